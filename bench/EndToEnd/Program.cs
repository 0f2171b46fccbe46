using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Analytics.Events;

// End-to-end benchmark of the embedded silo: POST /api/events -> local log -> grains, with
// 10k sources and 20 metrics. Two phases: as fast as the silo takes it (throughput), then a
// sustained rate below capacity (query latency and freshness, which mean little on an overloaded
// silo). Usage: EndToEndBench [seconds=30] [posters=4] [batch=1000] [sustained events/s=20000]
var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 30;
var posters = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4;
var batchSize = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
var sustainedRate = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 20_000;
const int Sources = 10_000;
const int Metrics = 20;

// Every body has fresh ids: a repeated id is a duplicate, and the silo would rightly drop it.
var bodies = BuildBodies(Math.Max(64, seconds * 2 * 150_000 / batchSize), batchSize);
Console.WriteLine($"{Environment.ProcessorCount} cores; {seconds} s load, {posters} posters, batches of {batchSize}, {Sources} sources, {Metrics} metrics");

// Baseline, same run: parse the same bodies and add every event to a dictionary.
var baseline = MeasureBaseline(bodies, TimeSpan.FromSeconds(5));
Console.WriteLine($"baseline (parse + dictionary): {baseline:N0} events/s");

var data = Path.Combine(Path.GetTempPath(), "e2e-bench-" + Guid.NewGuid().ToString("N"));
using var silo = StartSilo(data, out var port);
using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
try
{
    await WaitReadyAsync(http, silo);
    // Phase 1: throughput.
    var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    long accepted = 0;
    var next = -1;
    var started = Stopwatch.GetTimestamp();
    var progress = Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(2000);
            Console.Error.WriteLine($"  {Stopwatch.GetElapsedTime(started).TotalSeconds,5:0} s  accepted {Interlocked.Read(ref accepted),12:N0}");
        }
    });
    await Task.WhenAll(Enumerable.Range(0, posters).Select(_ => Task.Run(async () =>
    {
        int i;
        while (!stop.IsCancellationRequested && (i = Interlocked.Increment(ref next)) < bodies.Length / 2)
        {
            Interlocked.Add(ref accepted, await PostAsync(http, bodies[i]));
        }
    })));
    var ingestSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
    var expected = Interlocked.Read(ref accepted);
    var counted = await WaitCountedAsync(http, expected);
    var processSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

    // Phase 2: a sustained rate below capacity, with queries and freshness probes alongside.
    Console.Error.WriteLine($"  sustained phase: {sustainedRate:N0} events/s for {seconds} s");
    var sustained = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
    var queries = Task.Run(() => QueryLatenciesAsync(http, sustained.Token));
    var freshness = Task.Run(() => FreshnessAsync(http, sustained.Token));
    var paced = Stopwatch.GetTimestamp();
    long sustainedAccepted = 0;
    while (!sustained.IsCancellationRequested && ++next < bodies.Length)
    {
        sustainedAccepted += await PostAsync(http, bodies[next]);
        var due = TimeSpan.FromSeconds((double)sustainedAccepted / sustainedRate) - Stopwatch.GetElapsedTime(paced);
        if (due > TimeSpan.Zero)
        {
            await Task.Delay(due);
        }
    }

    var queryLatencies = await queries;
    var freshnessLatencies = await freshness;
    var achieved = sustainedAccepted / Stopwatch.GetElapsedTime(paced).TotalSeconds;

    var ingestRate = expected / ingestSeconds;
    var processRate = expected / processSeconds;
    Console.WriteLine();
    Console.WriteLine("| figure | value | baseline | ratio | goal |");
    Console.WriteLine("| --- | --- | --- | --- | --- |");
    Console.WriteLine($"| accepted (202) events/s, flat out | {ingestRate:N0} | {baseline:N0} | {ingestRate / baseline:P1} | |");
    Console.WriteLine($"| end-to-end events/s, first post to all counted | {processRate:N0} | {baseline:N0} | {processRate / baseline:P1} | >= 150,000 |");
    Console.WriteLine($"| stats?window=5m latency p50 / p99 at {achieved:N0} events/s | {Percentile(queryLatencies, 0.5):0.00} / {Percentile(queryLatencies, 0.99):0.00} ms | | | p99 <= 2 ms |");
    Console.WriteLine($"| freshness 202 -> visible p50 / p99 at {achieved:N0} events/s | {Percentile(freshnessLatencies, 0.5):0} / {Percentile(freshnessLatencies, 0.99):0} ms | | | p99 <= 1000 ms |");
    Console.WriteLine($"counted {counted:N0} of {expected:N0} accepted in phase 1; {queryLatencies.Count} queries, {freshnessLatencies.Count} freshness probes in phase 2");
}
finally
{
    silo.Kill(entireProcessTree: true);
    silo.WaitForExit();
    Directory.Delete(data, recursive: true);
}

static async Task<long> PostAsync(HttpClient http, byte[] body)
{
    using var response = await http.PostAsync("/api/events", new ByteArrayContent(body) { Headers = { ContentType = new("application/json") } });
    return (long)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["accepted"]!;
}

static byte[][] BuildBodies(int count, int batchSize)
{
    var random = new Random(1);
    var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    var n = 0L;
    return Enumerable.Range(0, count).Select(_ =>
    {
        var events = Enumerable.Range(0, batchSize).Select(_ =>
            new AnalyticsEvent($"dev-{random.Next(Sources):D5}", $"metric.{random.Next(Metrics):D2}", Math.Round(random.NextDouble() * 100, 2), now - random.Next(0, 60_000), $"b-{n++}")).ToArray();
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        EventSerializer.WriteArray(buffer, events);
        return buffer.WrittenSpan.ToArray();
    }).ToArray();
}

static double MeasureBaseline(byte[][] bodies, TimeSpan duration)
{
    var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    var options = new EventValidationOptions();
    var sums = new Dictionary<(string, string), double>();
    long events = 0;
    var watch = Stopwatch.StartNew();
    for (var i = 0; watch.Elapsed < duration && i < bodies.Length * 4; i++)
    {
        var result = EventParser.ParseBody(bodies[i % bodies.Length], ndjson: false, now, options);
        foreach (var e in result.Accepted)
        {
            sums[(e.Source, e.Metric)] = sums.GetValueOrDefault((e.Source, e.Metric)) + e.Value;
        }

        events += result.Accepted.Count;
    }

    return events / watch.Elapsed.TotalSeconds;
}

static async Task<List<double>> QueryLatenciesAsync(HttpClient http, CancellationToken stop)
{
    var latencies = new List<double>();
    var random = new Random(2);
    await Task.Delay(2000);
    while (!stop.IsCancellationRequested)
    {
        var start = Stopwatch.GetTimestamp();
        using var response = await http.GetAsync($"/api/metrics/metric.{random.Next(Metrics):D2}/stats?window=5m");
        await response.Content.ReadAsByteArrayAsync();
        latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        await Task.Delay(20);
    }

    return latencies;
}

static async Task<List<double>> FreshnessAsync(HttpClient http, CancellationToken stop)
{
    var latencies = new List<double>();
    var probe = 0;
    while (!stop.IsCancellationRequested)
    {
        probe++;
        var body = $"[{{\"source\":\"probe\",\"metric\":\"fresh.probe\",\"value\":1,\"id\":\"p-{probe}\"}}]";
        using (await http.PostAsync("/api/events", new StringContent(body, Encoding.UTF8, "application/json")))
        {
        }

        var accepted = Stopwatch.GetTimestamp();
        while (true)
        {
            var stats = JsonNode.Parse(await http.GetStringAsync("/api/metrics/fresh.probe/stats?window=1h").ContinueWith(t => t.IsFaulted ? "{\"count\":0}" : t.Result));
            if ((long)stats!["count"]! >= probe)
            {
                break;
            }

            await Task.Delay(5);
        }

        latencies.Add(Stopwatch.GetElapsedTime(accepted).TotalMilliseconds);
        await Task.Delay(200);
    }

    return latencies;
}

static async Task<long> WaitCountedAsync(HttpClient http, long expected)
{
    var deadline = DateTime.UtcNow.AddMinutes(10);
    long counted = 0;
    while (DateTime.UtcNow < deadline)
    {
        counted = 0;
        for (var m = 0; m < Metrics; m++)
        {
            var stats = JsonNode.Parse(await http.GetStringAsync($"/api/metrics/metric.{m:D2}/stats?window=1h"))!;
            counted += (long)stats["count"]!;
        }

        if (counted >= expected)
        {
            return counted;
        }

        await Task.Delay(200);
    }

    return counted;
}

static double Percentile(List<double> values, double q)
{
    if (values.Count == 0)
    {
        return double.NaN;
    }

    var sorted = values.Order().ToList();
    return sorted[(int)Math.Floor(q * (sorted.Count - 1))];
}

static Process StartSilo(string data, out int port)
{
    using (var listener = new TcpListener(IPAddress.Loopback, 0))
    {
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    var here = new DirectoryInfo(AppContext.BaseDirectory);
    var silo = Path.GetFullPath(Path.Combine(here.FullName, "../../../../../Silo/bin", here.Parent!.Name, here.Name, "Analytics.Silo.dll"));
    var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(silo)! };
    foreach (var a in new[] { silo, $"--Http:Port={port}", "--Http:Address=127.0.0.1", $"--Embedded:DataPath={data}" })
    {
        start.ArgumentList.Add(a);
    }

    start.Environment["Logging__LogLevel__Default"] = "Warning";
    var process = Process.Start(start)!;
    process.OutputDataReceived += (_, _) => { };
    process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine("silo: " + e.Data); };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    return process;
}

static async Task WaitReadyAsync(HttpClient http, Process silo)
{
    for (var i = 0; i < 600; i++)
    {
        if (silo.HasExited)
        {
            throw new InvalidOperationException($"the silo exited with code {silo.ExitCode}");
        }

        try
        {
            if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
        }

        await Task.Delay(100);
    }

    throw new TimeoutException("the silo did not become ready");
}
