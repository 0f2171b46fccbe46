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
/// the silo starts and the clock runs until the subscriber grains have applied every item. The
/// baseline, in the same run and on the same files, is a plain SQLite scan of the same rows.
/// </summary>
public static class LocalLogDelivery
{
    public const string Provider = "bench";
    public const string Namespace = "bench";

    public sealed record Settings(int Records = 1_000_000, int Keys = 1_000, int Partitions = 8, int AppendBatch = 500, int Producers = 4, int BatchSize = 1_000);

    public static async Task RunAsync(Settings settings)
    {
        Console.WriteLine($"== LocalLogDelivery: {settings.Records:N0} records over {settings.Keys:N0} stream keys, {settings.Partitions} partitions, read batch {settings.BatchSize} ==");
        var dataPath = Path.Combine(Path.GetTempPath(), "analytics-bench-" + Guid.NewGuid().ToString("N")[..8]);
        var pulling = new StreamPullingOptions { BatchSize = settings.BatchSize };
        Interlocked.Exchange(ref BenchTallyGrain.Applied, 0);
        var host = BenchSilo.Build(silo =>
        {
            silo.AddMemoryGrainStorage("store");
            silo.AddLocalLogStreams(Provider, new LocalLogOptions { DataPath = dataPath, Partitions = settings.Partitions }, o => o.BatchSize = settings.BatchSize);
        });
        try
        {
            var provider = host.Services.GetStreamProvider(Provider);
            var payload = new byte[16];
            Random.Shared.NextBytes(payload);

            // 1. Appends (silo not started yet, so nothing reads meanwhile): one producer for a
            //    fifth of the records, then several concurrent producers for the rest.
            var single = settings.Records / 5;
            var singleRate = await AppendAsync(provider, settings, payload, 0, single, producers: 1);
            var concurrentRate = await AppendAsync(provider, settings, payload, single, settings.Records - single, settings.Producers);
            Console.WriteLine($"  append: {Results.Format(singleRate, "records/s")} (1 producer), {Results.Format(concurrentRate, "records/s")} ({settings.Producers} producers), batches of {settings.AppendBatch}");

            // Baseline for appends: the same inserts into a fresh SQLite file, one transaction per batch, one thread.
            var rawInsertRate = RawInsert(Path.Combine(dataPath, "baseline-insert.db"), settings, payload, single);
            Console.WriteLine($"  raw SQLite insert baseline: {Results.Format(rawInsertRate, "rows/s")}");

            // 2. Baseline for delivery: read every row of every partition in order, materialised
            //    as the receiver does (two strings and a byte array per row). Run twice; the second
            //    (warm page cache, JIT done) counts, which favours the baseline.
            RawRead(dataPath, settings.Partitions);
            var (rows, readRate) = RawRead(dataPath, settings.Partitions);
            if (rows != settings.Records)
            {
                throw new InvalidOperationException($"Expected {settings.Records} rows in the log, found {rows}.");
            }

            Console.WriteLine($"  raw SQLite read baseline: {rows:N0} rows at {Results.Format(readRate, "rows/s")}");

            // 3. Delivery: start the silo; its pulling agents read the log and deliver.
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
            var steady = settings.Records / (done - first!.Value).TotalSeconds;
            var withStartup = settings.Records / done.TotalSeconds;
            var stats = host.Services.GetPullingAgents().Select(a => a.Statistics).ToList();
            var grainCalls = stats.Sum(s => s.GrainCalls);
            Console.WriteLine($"  silo start {started.TotalMilliseconds:0} ms, first item applied at {first.Value.TotalMilliseconds:0} ms, all {settings.Records:N0} at {done.TotalMilliseconds:0} ms");
            Console.WriteLine($"  delivery: {Results.Format(steady, "events/s")} (first to last item), {Results.Format(withStartup, "events/s")} including silo start");
            Console.WriteLine($"  {stats.Sum(s => s.Batches):N0} batches, {grainCalls:N0} grain calls ({settings.Records / (double)Math.Max(1, grainCalls):0.0} items per call), {stats.Sum(s => s.Rewinds)} rewinds");

            Results.Add(new ResultRow(
                "local log -> implicit subscribers",
                $"{settings.Records / 1000:N0}k records, {settings.Keys} keys, batch {settings.BatchSize}",
                Results.Format(steady, "events/s"),
                Results.Format(readRate, "rows/s") + " raw read",
                Results.Ratio(steady, readRate),
                ">= 500k events/s",
                steady >= 500_000));
            Results.Add(new ResultRow(
                "(same, including silo start)",
                string.Empty,
                Results.Format(withStartup, "events/s"),
                Results.Format(readRate, "rows/s") + " raw read",
                Results.Ratio(withStartup, readRate),
                ">= 500k events/s",
                withStartup >= 500_000));
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
        }
        finally
        {
            try
            {
                await host.StopQuietlyAsync();
            }
            catch (InvalidOperationException)
            {
                // The host never started (a failure before step 3): dispose is enough.
                host.Dispose();
            }

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

    private static (StreamId Stream, ReadOnlyMemory<byte> Data) Record(int n, int keys, byte[] payload) =>
        (new StreamId(Namespace, "key-" + (n % keys).ToString(System.Globalization.CultureInfo.InvariantCulture)), payload);

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

    private static (long Rows, double RowsPerSecond) RawRead(string dataPath, int partitions)
    {
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

        return (rows, rows / clock.Elapsed.TotalSeconds);
    }
}
