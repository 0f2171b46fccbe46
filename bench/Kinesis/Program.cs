using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Analytics.Aws.Tests;
using Analytics.Bench.Kinesis;
using Analytics.Aws.Kinesis;
using Analytics.Testing.AwsFaultProxy;

// AWS mode against the emulators (kinesis-mock and dynalite, from Tests/Emulators/install.sh):
// 1. read rate: E events put into a stream first, read raw with GetRecords (the baseline), then
//    by a silo process from TRIM_HORIZON until every event is counted;
// 2. DynamoDB writes per event while a producer puts events at a fixed rate (counted by a proxy);
// 3. freshness: probes put during (2), from the PutRecords answer until a query counts them.
// Usage: KinesisBench [events=100000] [sources=1000] [shards=4] [rate=2000] [seconds=60] [checkpoint=default] [silo=path]
// (positional, or name=value in any order; checkpoint is hh:mm:ss for checkpoint and grain flush;
// silo is the Analytics.Silo.dll to run, by default this repository's Silo build).
// KinesisBench failover [shards=6] [silos=3] [rounds=3]: SIGKILL in a 3-silo cluster (Failover.cs).
if (args is ["failover", ..])
{
    using var failoverStop = new CancellationTokenSource(TimeSpan.FromMinutes(20));
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = !failoverStop.IsCancellationRequested;
        failoverStop.Cancel();
    };
    AppDomain.CurrentDomain.ProcessExit += (_, _) => BenchSilo.KillAll();
    return await Failover.RunAsync(args[1..], failoverStop.Token);
}

var events = IntArg(0, "events", 100_000);
var sources = IntArg(1, "sources", 1000);
var shards = IntArg(2, "shards", 4);
var rate = IntArg(3, "rate", 2000);
var seconds = IntArg(4, "seconds", 60);
var checkpoint = Arg(5, "checkpoint") ?? "default";
var siloDll = Arg(-1, "silo");
// By default the silo keeps its AWS-mode defaults (AnalyticsSiloSetup.AwsCheckpointInterval, 30 s);
// the bench uses the figure only to judge whether the sustained phase is long enough.
var checkpointInterval = checkpoint == "default" ? TimeSpan.FromSeconds(30) : TimeSpan.Parse(checkpoint, CultureInfo.InvariantCulture);
string[] siloExtra = checkpoint == "default"
    ? []
    : [$"--Streams:CheckpointInterval={checkpointInterval:c}", $"--Analytics:FlushInterval={checkpointInterval:c}"];
string[] metrics = ["bench.temp", "bench.hum", "bench.load", "bench.volt"];
var checkpointText = checkpoint == "default" ? "silo default (30 s in AWS mode)" : checkpoint;
Console.WriteLine($"{Environment.ProcessorCount} cores; {events:N0} events from {sources:N0} sources, {metrics.Length} metrics, {shards} shards; "
    + $"sustained {rate:N0} events/s for {seconds} s; checkpoint and grain flush: {checkpointText}; silo {siloDll ?? "Silo/ (this build)"}; load average {LoadAverage()}");

// Every wait below has its own bound; this one bounds the whole run. Ctrl-C or SIGTERM stops it
// through the same token, so the finally block below still stops every child process.
using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(30));
var interrupts = 0;
Console.CancelKeyPress += (_, e) =>
{
    // The second Ctrl-C ends the process at once; ProcessExit still kills the silo, and the
    // emulators end with their parent (exit-with-parent.cjs).
    e.Cancel = Interlocked.Increment(ref interrupts) == 1;
    Console.Error.WriteLine("interrupted: stopping the silo, the proxies and the emulators");
    stop.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    Interlocked.Increment(ref interrupts);
    Console.Error.WriteLine("terminated: stopping the silo, the proxies and the emulators");
    stop.Cancel();
});
AppDomain.CurrentDomain.ProcessExit += (_, _) => BenchSilo.KillAll();

var emulators = new EmulatorHost();
AwsFaultProxy? proxy = null;
BatchItemCounter? items = null;
BenchSilo? silo = null;
KinesisClient? kinesis = null;
var exitCode = 0;
try
{
    Console.Error.WriteLine("starting kinesis-mock and dynalite");
    await emulators.InitializeAsync();
    stop.Token.ThrowIfCancellationRequested();
    kinesis = emulators.CreateKinesisClient();
    // silo -> fault proxy (counts calls per operation; the item counter looks inside them) -> dynalite.
    proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl, stop.Token);
    items = BatchItemCounter.Observe(proxy);

    var stream = EmulatorHost.UniqueName("bench");
    await kinesis.CreateStreamAsync(stream, shards, stop.Token);
    await kinesis.WaitForStreamActiveAsync(stream, TimeSpan.FromSeconds(30), stop.Token);

    // Phase 1: the whole data set in the stream before anyone reads it.
    var producer = new Producer(kinesis, stream, metrics, sources);
    var expected = new Expected();
    // Ordered by source (stably, so each source's events keep their order): a part of 10,000 then
    // holds whole sources, and each source packs into full records of 25.
    var initial = producer.Spread(events, "w").OrderBy(e => e.Source, StringComparer.Ordinal).ToList();
    var putWatch = Stopwatch.StartNew();
    foreach (var part in initial.Chunk(10_000))
    {
        await producer.PutAsync(part, stop.Token);
        expected.Add(part);
        Console.Error.WriteLine($"  put {expected.Total,12:N0} of {events:N0} ({putWatch.Elapsed.TotalSeconds:0.0} s)");
    }

    var initialRecords = producer.Records;
    Console.WriteLine($"put {events:N0} events in {producer.Records:N0} records of up to {Producer.EventsPerRecord} ({producer.Records / shards:N0} records a shard) in {putWatch.Elapsed.TotalSeconds:0.0} s");

    // Baseline: the emulator's raw read rate over the same data; the better of two reads. A third
    // read in pages of 1,000 records (the silo's StreamPulling BatchSize) is for the notes only.
    var reads = new List<RawRead>();
    foreach (var pageSize in new[] { KinesisLimits.MaxGetRecordsLimit, KinesisLimits.MaxGetRecordsLimit, 1000 })
    {
        var read = await RawReader.ReadAllAsync(kinesis, stream, pageSize, TimeSpan.FromMinutes(5), stop.Token);
        Console.Error.WriteLine($"  raw read, pages of {pageSize:N0}: {read.Events:N0} events in {read.Records:N0} records, {read.Calls} GetRecords calls, {read.Elapsed.TotalSeconds:0.00} s = {read.EventsPerSecond:N0} events/s");
        if (read.Events != events)
        {
            throw new InvalidOperationException($"the raw read found {read.Events:N0} events, not {events:N0}");
        }

        reads.Add(read);
    }

    var baseline = reads.Take(2).MaxBy(r => r.EventsPerSecond)!;
    var smallPages = reads[2];
    var tipPoll = await RawReader.TipPollMillisecondsAsync(kinesis, stream, stop.Token);

    // End to end: a silo from TRIM_HORIZON (no checkpoints yet) until every event is counted.
    var cpu = new CpuMeter(() => silo?.Process);
    cpu.Mark();
    var tablePrefix = $"kb{Guid.NewGuid():N}"[..12] + "-";
    var startWatch = Stopwatch.StartNew();
    silo = BenchSilo.Start(stream, emulators.KinesisUrl, proxy.Url, tablePrefix, siloExtra, siloDll);
    await silo.WaitReadyAsync(TimeSpan.FromSeconds(90), stop.Token);
    var startup = startWatch.Elapsed;
    var startupCpu = cpu.Since();
    cpu.Mark();
    var readyWatch = Stopwatch.StartNew();
    var (counted, firstCounted) = await silo.WaitTotalAsync(metrics, events, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10), "catch-up", stop.Token);
    var catchUp = readyWatch.Elapsed;
    var fromStart = startWatch.Elapsed;
    var catchUpCpu = cpu.Since();
    if (counted < events)
    {
        throw new TimeoutException($"the silo counted {counted:N0} of {events:N0} events in {catchUp.TotalSeconds:0} s");
    }

    var endToEnd = events / catchUp.TotalSeconds;
    Console.Error.WriteLine($"  silo ready in {startup.TotalSeconds:0.0} s, counted {counted:N0} events {catchUp.TotalSeconds:0.0} s later (the first {firstCounted.TotalSeconds:0.0} s after ready); CPU cores used: {CpuMeter.Cores(catchUpCpu)}");

    // Phase 2 and 3: a sustained rate with freshness probes beside it; writes counted from here.
    Console.Error.WriteLine($"  sustained phase: {rate:N0} events/s for {seconds} s, probes every 200 ms; it starts {readyWatch.Elapsed.TotalSeconds:0.0} s after the silo was ready");
    proxy.ResetCounts();
    items.Reset();
    cpu.Mark();
    var duration = TimeSpan.FromSeconds(seconds);
    using var phaseOver = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
    phaseOver.CancelAfter(duration + TimeSpan.FromMinutes(2));
    var bursts = Task.Run(() => Sustained.BurstsAsync(() => proxy.Count("PutItem"), 100, phaseOver.Token));
    var probing = Task.Run(() => Sustained.ProbeAsync(kinesis, stream, silo, duration, stop.Token));
    var produced = await Sustained.ProduceAsync(producer, expected, rate, duration, stop.Token);
    await phaseOver.CancelAsync();
    var calls = proxy.Counts;
    var batchItems = items.Items;
    var shapes = items.Shapes;
    var sustainedCpu = cpu.Since();
    var probes = await probing;
    var checkpoints = await bursts;
    var tipPollAfter = await RawReader.TipPollMillisecondsAsync(kinesis, stream, stop.Token);

    // Exactness: everything put is counted once, no more.
    var total = expected.Total;
    await silo.WaitTotalAsync(metrics, total, TimeSpan.FromMilliseconds(200), TimeSpan.FromMinutes(3), "final", stop.Token);
    await Task.Delay(2000, stop.Token);
    var wrong = new List<string>();
    long countedTotal = 0;
    foreach (var metric in metrics)
    {
        var actual = await silo.StatsAsync(metric, stop.Token);
        countedTotal += actual.Count;
        if (actual != expected[metric])
        {
            wrong.Add($"{metric}: count {actual.Count:N0} sum {actual.Sum:N0}, expected {expected[metric].Count:N0} and {expected[metric].Sum:N0}");
        }
    }

    var probeCount = (await silo.StatsAsync(Sustained.ProbeMetric, stop.Token)).Count;
    if (probeCount != probes.Put)
    {
        wrong.Add($"{Sustained.ProbeMetric}: count {probeCount:N0}, expected {probes.Put:N0}");
    }

    // Writes: every DynamoDB write request, BatchWriteItem counted by its items.
    long Calls(string operation) => calls.GetValueOrDefault(operation);
    var writes = Calls("PutItem") + Calls("UpdateItem") + Calls("DeleteItem") + batchItems.Puts + batchItems.Deletes;
    var phaseEvents = produced.Events + probes.Put;
    var perThousand = writes * 1000.0 / phaseEvents;
    var probeWrites = shapes.Where(s => s.Shape.Contains("probe-", StringComparison.Ordinal)).Sum(s => s.Items);
    var latencies = probes.LatenciesMs;
    var p99 = Sustained.Percentile(latencies, 0.99);

    Console.WriteLine();
    Console.WriteLine("| figure | value | baseline | ratio | goal | met? |");
    Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
    Console.WriteLine($"| raw GetRecords read of the stream (kinesis-mock alone), best of 2 | {baseline.EventsPerSecond:N0} events/s ({baseline.Records:N0} records, {baseline.Calls} calls, {baseline.Elapsed.TotalSeconds:0.00} s) | | | | |");
    Console.WriteLine($"| end to end, silo ready to all {events:N0} counted | {endToEnd:N0} events/s ({catchUp.TotalSeconds:0.0} s; {events / fromStart.TotalSeconds:N0} events/s from process start) | {baseline.EventsPerSecond:N0} | {endToEnd / baseline.EventsPerSecond:P0} | >= 90% | {Met(endToEnd >= 0.9 * baseline.EventsPerSecond)} |");
    Console.WriteLine($"| silo startup, process start to /health/ready | {startup.TotalMilliseconds:N0} ms | | | | |");
    // Issue 11's goal: at most 0.01 writes per event (10 per 1,000). The baseline is the seed
    // design's one UpdateItem per event.
    var perEvent = writes / (double)phaseEvents;
    Console.WriteLine($"| DynamoDB writes per event at {produced.Rate:N0} events/s for {seconds} s, checkpoint {(checkpoint == "default" ? "default" : checkpoint)} | {perEvent:0.0000} = {perThousand:N1} per 1,000 ({writes:N0} writes, {phaseEvents:N0} events; {(writes - probeWrites) * 1000.0 / phaseEvents:N1} per 1,000 without the probes' own source grains) | 1 (one UpdateItem per event) | {perEvent:P2} | <= 0.01 | {(duration < 2 * checkpointInterval ? "not measured: fewer than 2 checkpoints in the phase" : Met(perEvent <= 0.01))} |");
    Console.WriteLine($"| freshness, PutRecords answer to counted, p50 / p99 / max ({latencies.Count} probes) | {Sustained.Percentile(latencies, 0.5):N0} / {p99:N0} / {(latencies.Count > 0 ? latencies.Max() : double.NaN):N0} ms | | | p99 <= 1,500 ms | {Met(p99 <= 1500 && probes.TimedOut == 0)} |");
    Console.WriteLine($"| exactness | {(wrong.Count == 0 ? $"{total:N0} of {total:N0} counted, sums equal; {probeCount} of {probes.Put} probes" : string.Join("; ", wrong))} | | | exact | {Met(wrong.Count == 0)} |");
    Console.WriteLine();
    Console.WriteLine($"catch-up: the silo counted its first events {firstCounted.TotalSeconds:0.0} s after it was ready");
    Console.WriteLine($"raw read in pages of 1,000 records (the silo's BatchSize): {smallPages.EventsPerSecond:N0} events/s ({smallPages.Calls} calls, {smallPages.Elapsed.TotalSeconds:0.00} s)");
    Console.WriteLine($"one GetRecords at the tip of a shard (an empty page): {tipPoll:N0} ms after the first put ({initialRecords / shards:N0} records a shard then), {tipPollAfter:N0} ms after the sustained phase");
    Console.WriteLine($"sustained phase: {produced.Events:N0} events in {produced.Records:N0} records ({produced.Rate:N0} events/s) and {probes.Put} probes ({probes.TimedOut} not visible within 30 s)");
    Console.WriteLine($"DynamoDB requests in the sustained phase, by operation: {string.Join(", ", calls.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value:N0}"))}");
    Console.WriteLine($"writes = PutItem + UpdateItem + DeleteItem calls + BatchWriteItem items ({batchItems.Puts:N0} puts, {batchItems.Deletes:N0} deletes in {Calls("BatchWriteItem"):N0} calls); {probeWrites:N0} of them for the probes' own source grains");
    Console.WriteLine("write items by operation, table and key shape (# = digits):");
    foreach (var (shape, count) in shapes.Take(15))
    {
        Console.WriteLine($"  {count,8:N0}  {shape}");
    }

    Console.WriteLine($"CPU cores used (CPU s per s), silo startup: {CpuMeter.Cores(startupCpu)}; {startupCpu.Cpu.GetValueOrDefault("silo"):0.0} CPU s in the silo");
    Console.WriteLine($"CPU cores used (CPU s per s), catch-up from ready: {CpuMeter.Cores(catchUpCpu)}; silo CPU per event {SiloMicroseconds(catchUpCpu, events):N0} µs");
    Console.WriteLine($"CPU cores used (CPU s per s), sustained: {CpuMeter.Cores(sustainedCpu)}; silo CPU per event {SiloMicroseconds(sustainedCpu, phaseEvents):N0} µs");
    Console.WriteLine($"PutItem bursts (> 100/s: the checkpoints) at {Listed(checkpoints.Select(b => $"{b.From:0.0}-{b.To:0.0} s ({b.Count:N0})"))} of the sustained phase; probes over 1 s at {Listed(probes.Slow.Select(p => $"{p.At:0.0} s ({p.Ms:N0} ms)"))}");
    Console.WriteLine($"probe PutRecords latency p50 / p99: {Sustained.Percentile(probes.PutMs, 0.5):N0} / {Sustained.Percentile(probes.PutMs, 0.99):N0} ms");
    Console.WriteLine($"load average (1, 5, 15 min) at the end: {LoadAverage()}");

    // Issue 14's summary, the last line: this bench measures no query latency (EndToEnd does), so those are null.
    static System.Text.Json.Nodes.JsonNode? Number(double value) => double.IsFinite(value) ? System.Text.Json.Nodes.JsonValue.Create(Math.Round(value, 4)) : null;
    Console.WriteLine(new System.Text.Json.Nodes.JsonObject
    {
        ["eventsPerSec"] = Number(endToEnd),
        ["baselinePerSec"] = Number(baseline.EventsPerSecond),
        ["statsP50Ms"] = null,
        ["statsP99Ms"] = null,
        ["freshnessP50Ms"] = Number(Sustained.Percentile(latencies, 0.5)),
        ["freshnessP99Ms"] = Number(p99),
        ["writesPerEvent"] = Number(perEvent),
        ["accepted"] = total + probes.Put,
        ["counted"] = countedTotal + probeCount,
    }.ToJsonString());
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.Error.WriteLine(interrupts > 0 ? "stopped" : "the run took longer than its 30-minute bound");
    exitCode = 2;
}
catch (Exception e)
{
    Console.Error.WriteLine($"failed: {e}");
    if (silo is not null)
    {
        Console.Error.WriteLine($"silo output:{Environment.NewLine}{silo.OutputTail}");
    }

    exitCode = 1;
}
finally
{
    silo?.Dispose();
    if (proxy is not null)
    {
        await proxy.DisposeAsync();
    }

    kinesis?.Dispose();
    await emulators.DisposeAsync();
}

return exitCode;

static double SiloMicroseconds((Dictionary<string, double> Cpu, double Wall) used, long events) =>
    used.Cpu.GetValueOrDefault("silo") * 1e6 / events;

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

static string Listed(IEnumerable<string> items) => items.Any() ? string.Join(", ", items) : "none";

static string Met(bool met) => met ? "met" : "**missed**";

string? Arg(int position, string name) =>
    args.FirstOrDefault(a => a.StartsWith(name + "=", StringComparison.OrdinalIgnoreCase))?[(name.Length + 1)..]
    ?? (position >= 0 && args.Length > position && !args[position].Contains('=', StringComparison.Ordinal) ? args[position] : null);

int IntArg(int position, string name, int value) =>
    Arg(position, name) is { } text ? int.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture) : value;
