using System.Diagnostics;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Storage;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.LocalLog;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;

namespace Analytics.Bench;

/// <summary>
/// Delivery from the durable local log to implicit subscribers. The records are appended before
/// the silo starts (through the provider's IStreamProvider.AppendAsync, which is also timed), then
/// a silo starts and the clock runs until the subscriber grains have applied every item; this is
/// repeated by fresh silos over the same log (a warm-up round, then Rounds counted rounds, median
/// reported). The baseline, in the same run, on the same files, right before and after each
/// round, is a plain single-threaded SQLite scan of the same rows.
/// </summary>
public static class LocalLogDelivery
{
    public const string Provider = "bench";
    public const string Namespace = "bench";

    public sealed record Settings(int Records = 1_000_000, int Keys = 1_000, int Partitions = 8, int AppendBatch = 500, int Producers = 4, int BatchSize = 1_000, int Rounds = 3);

    /// <summary>
    /// One delivery round. Steady is first to last item, wall clock; PerCpuSecond divides by the
    /// CPU time this process used from silo start to the last item, which other load on a shared
    /// machine disturbs much less than wall-clock time. Baselines are the raw read's, alike.
    /// </summary>
    private sealed record Round(double Steady, double WithStartup, double PerCpuSecond, TimeSpan Start, TimeSpan First, TimeSpan Done, long Batches, long GrainCalls, long Rewinds)
    {
        public double Baseline { get; init; }

        public double BaselinePerCpuSecond { get; init; }
    }

    private static TimeSpan CpuTime() => Process.GetCurrentProcess().TotalProcessorTime;

    public static async Task RunAsync(Settings settings)
    {
        Console.WriteLine($"== LocalLogDelivery: {settings.Records:N0} records over {settings.Keys:N0} stream keys, {settings.Partitions} partitions, read batch {settings.BatchSize}, {settings.Rounds} rounds ==");
        var dataPath = Path.Combine(Path.GetTempPath(), "analytics-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            // 1. Appends, through the provider of a silo that is built but not started (so nothing
            //    reads meanwhile): one producer for a fifth of the records, then several concurrent
            //    producers for the rest. Baseline: the same inserts into a fresh SQLite file, one
            //    transaction per batch, one thread.
            double singleRate, concurrentRate, rawInsertRate;
            var payload = new byte[16];
            Random.Shared.NextBytes(payload);
            using (var appendHost = BuildHost(dataPath, settings))
            {
                var provider = appendHost.Services.GetStreamProvider(Provider);
                var single = settings.Records / 5;
                singleRate = await AppendAsync(provider, settings, payload, 0, single, producers: 1);
                concurrentRate = await AppendAsync(provider, settings, payload, single, settings.Records - single, settings.Producers);
                rawInsertRate = RawInsert(Path.Combine(dataPath, "baseline", "insert.db"), settings, payload, single);
            }

            Console.WriteLine($"  append: {Results.Format(singleRate, "records/s")} (1 producer), {Results.Format(concurrentRate, "records/s")} ({settings.Producers} producers), batches of {settings.AppendBatch}; raw SQLite insert baseline {Results.Format(rawInsertRate, "rows/s")}");

            // 2. Rounds of delivery, each by a fresh silo from the start of the log (its
            //    checkpoints are deleted in between), each between two runs of the baseline: a
            //    plain scan of every partition in order, materialised as the receiver does it (two
            //    strings and a byte array per row). The scan runs once first to warm the page
            //    cache and the JIT. Round 0 warms up the delivery path (tiered JIT: the first
            //    round runs partly unoptimised code) and is shown but not counted.
            RawRead(dataPath, settings.Partitions, settings.Records);
            var rounds = new List<Round>();
            for (var r = 0; r <= settings.Rounds; r++)
            {
                var (before, beforeCpu) = RawRead(dataPath, settings.Partitions, settings.Records);
                var round = await DeliverOnceAsync(dataPath, settings);
                var (after, afterCpu) = RawRead(dataPath, settings.Partitions, settings.Records);
                round = round with { Baseline = (before + after) / 2, BaselinePerCpuSecond = (beforeCpu + afterCpu) / 2 };
                if (r > 0)
                {
                    rounds.Add(round);
                }

                Console.WriteLine($"  round {r}{(r == 0 ? " (warm-up, not counted)" : string.Empty)}: silo start {round.Start.TotalMilliseconds:0} ms, first item applied at {round.First.TotalMilliseconds:0} ms, all at {round.Done.TotalMilliseconds:0} ms: "
                    + $"{Results.Format(round.Steady, "events/s")} first to last ({Results.Format(round.WithStartup, "events/s")} with silo start), {Results.Format(round.PerCpuSecond, "events/CPU-s")}; raw read {Results.Format(before, "rows/s")} before, {Results.Format(after, "rows/s")} after ({Results.Format(round.BaselinePerCpuSecond, "rows/CPU-s")}); "
                    + $"{round.Batches:N0} batches, {round.GrainCalls:N0} grain calls ({settings.Records / (double)Math.Max(1, round.GrainCalls):0.0} items per call), {round.Rewinds} rewinds");
                foreach (var file in Directory.GetFiles(dataPath, "stream-metadata.db*"))
                {
                    File.Delete(file);
                }
            }

            var median = rounds.OrderBy(r => r.Steady).ElementAt(rounds.Count / 2);
            var spread = $"rounds: {string.Join(", ", rounds.Select(r => Results.Format(r.Steady, "events/s") + " / " + Results.Format(r.Baseline, "rows/s")))}";
            Results.Add(new ResultRow(
                "local log -> implicit subscribers",
                $"{settings.Records / 1000:N0}k records, {settings.Keys} keys, batch {settings.BatchSize}, median of {rounds.Count}",
                Results.Format(median.Steady, "events/s"),
                Results.Format(median.Baseline, "rows/s") + " raw read",
                Results.Ratio(median.Steady, median.Baseline),
                ">= 500k events/s",
                median.Steady >= 500_000));
            Results.Add(new ResultRow(
                "(same round, including silo start)",
                string.Empty,
                Results.Format(median.WithStartup, "events/s"),
                Results.Format(median.Baseline, "rows/s") + " raw read",
                Results.Ratio(median.WithStartup, median.Baseline),
                ">= 500k events/s",
                median.WithStartup >= 500_000));
            Results.Add(new ResultRow(
                "(same round, per CPU-second)",
                "less sensitive to other load",
                Results.Format(median.PerCpuSecond, "events/CPU-s"),
                Results.Format(median.BaselinePerCpuSecond, "rows/CPU-s") + " raw read",
                Results.Ratio(median.PerCpuSecond, median.BaselinePerCpuSecond),
                "-",
                null));
            Results.Add(new ResultRow(
                "append (no goal)",
                $"IStreamProvider.AppendAsync, batches of {settings.AppendBatch}, 1 producer",
                Results.Format(singleRate, "records/s"),
                Results.Format(rawInsertRate, "rows/s") + " raw insert",
                Results.Ratio(singleRate, rawInsertRate),
                "-",
                null));
            Results.Add(new ResultRow(
                "append (no goal)",
                $"same, {settings.Producers} concurrent producers",
                Results.Format(concurrentRate, "records/s"),
                Results.Format(rawInsertRate, "rows/s") + " raw insert",
                Results.Ratio(concurrentRate, rawInsertRate),
                "-",
                null));
            Results.Note("delivery " + spread + " (delivered / raw read)");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(dataPath, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static IHost BuildHost(string dataPath, Settings settings) => BenchSilo.Build(silo =>
    {
        silo.AddMemoryGrainStorage("store");
        silo.AddLocalLogStreams(Provider, new LocalLogOptions { DataPath = dataPath, Partitions = settings.Partitions }, o => o.BatchSize = settings.BatchSize);
    });

    /// <summary>Starts a silo on the log and times it until the subscriber grains have applied every record once.</summary>
    private static async Task<Round> DeliverOnceAsync(string dataPath, Settings settings)
    {
        Interlocked.Exchange(ref BenchTallyGrain.Applied, 0);
        var host = BuildHost(dataPath, settings);
        try
        {
            var cpu = CpuTime();
            var clock = Stopwatch.StartNew();
            await host.StartAsync();
            var started = clock.Elapsed;
            TimeSpan? first = null;
            var progress = new Progress("delivered", settings.Records);
            var deadline = TimeSpan.FromSeconds(180);
            while (true)
            {
                var applied = Interlocked.Read(ref BenchTallyGrain.Applied);
                if (applied > 0 && first is null)
                {
                    first = clock.Elapsed;
                }

                if (applied >= settings.Records)
                {
                    break;
                }

                if (clock.Elapsed > deadline)
                {
                    throw new TimeoutException($"Only {applied:N0} of {settings.Records:N0} items were delivered in {deadline.TotalSeconds} s.");
                }

                progress.Report(applied);
                await Task.Delay(2);
            }

            var done = clock.Elapsed;
            var cpuUsed = CpuTime() - cpu;

            // Every item exactly once: the grains' own counts add up to the number of records.
            var factory = host.GrainFactory();
            var counts = await Task.WhenAll(Enumerable.Range(0, settings.Keys).Select(k => factory.GetGrain<IBenchTallyGrain>(Key(k)).Count()));
            if (counts.Sum() != settings.Records)
            {
                throw new InvalidOperationException($"The subscriber grains counted {counts.Sum():N0} items, not {settings.Records:N0}.");
            }

            var stats = host.Services.GetPullingAgents().Select(a => a.Statistics).ToList();
            return new Round(
                settings.Records / (done - first!.Value).TotalSeconds,
                settings.Records / done.TotalSeconds,
                settings.Records / cpuUsed.TotalSeconds,
                started,
                first.Value,
                done,
                stats.Sum(s => s.Batches),
                stats.Sum(s => s.GrainCalls),
                stats.Sum(s => s.Rewinds));
        }
        finally
        {
            await host.StopQuietlyAsync();
        }
    }

    private static (StreamId Stream, ReadOnlyMemory<byte> Data) Record(int n, int keys, byte[] payload) =>
        (new StreamId(Namespace, Key(n % keys)), payload);

    private static string Key(int k) => "key-" + k.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static async Task<double> AppendAsync(IStreamProvider provider, Settings settings, byte[] payload, int from, int count, int producers)
    {
        var progress = new Progress($"appending ({producers} producer{(producers == 1 ? string.Empty : "s")})", count);
        var done = 0L;
        var batches = (count + settings.AppendBatch - 1) / settings.AppendBatch;
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, producers).Select(_ => Task.Run(async () =>
        {
            int batch;
            while ((batch = Interlocked.Increment(ref next)) < batches)
            {
                var start = from + batch * settings.AppendBatch;
                var size = Math.Min(settings.AppendBatch, from + count - start);
                var records = new List<(StreamId, ReadOnlyMemory<byte>)>(size);
                for (var n = start; n < start + size; n++)
                {
                    records.Add(Record(n, settings.Keys, payload));
                }

                await provider.AppendAsync(records);
                progress.Report(Interlocked.Add(ref done, size));
            }
        })));
        return count / clock.Elapsed.TotalSeconds;
    }

    private static double RawInsert(string path, Settings settings, byte[] payload, int count)
    {
        using var connection = SqliteDatabase.Open(path, fullSync: false);
        SqliteDatabase.Execute(connection, "CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT NOT NULL, stream_key TEXT NOT NULL, appended_at INTEGER NOT NULL, data BLOB NOT NULL);");
        var clock = Stopwatch.StartNew();
        for (var start = 0; start < count; start += settings.AppendBatch)
        {
            using var transaction = connection.BeginTransaction();
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO log (ns, stream_key, appended_at, data) VALUES ($ns, $key, $at, $data)";
            var ns = insert.Parameters.Add("$ns", SqliteType.Text);
            var key = insert.Parameters.Add("$key", SqliteType.Text);
            insert.Parameters.AddWithValue("$at", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            var data = insert.Parameters.Add("$data", SqliteType.Blob);
            for (var n = start; n < Math.Min(count, start + settings.AppendBatch); n++)
            {
                var (stream, bytes) = Record(n, settings.Keys, payload);
                ns.Value = stream.Namespace;
                key.Value = stream.Key;
                data.Value = bytes.ToArray();
                insert.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        return count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Rows per second of wall clock and per second of this process's CPU time.</summary>
    private static (double Wall, double PerCpuSecond) RawRead(string dataPath, int partitions, int expected)
    {
        var cpu = CpuTime();
        var clock = Stopwatch.StartNew();
        var rows = 0L;
        var bytes = 0L;
        for (var p = 0; p < partitions; p++)
        {
            using var connection = SqliteDatabase.Open(Path.Combine(dataPath, $"log-{p:D3}.db"), fullSync: false);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT seq, ns, stream_key, data FROM log ORDER BY seq";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                _ = reader.GetInt64(0);
                _ = reader.GetString(1);
                _ = reader.GetString(2);
                bytes += ((byte[])reader.GetValue(3)).Length;
                rows++;
            }
        }

        var rate = (rows / clock.Elapsed.TotalSeconds, rows / (CpuTime() - cpu).TotalSeconds);
        return rows == expected ? rate : throw new InvalidOperationException($"Expected {expected} rows in the log, found {rows}.");
    }
}
