using System.Diagnostics;
using System.Runtime.CompilerServices;
using Analytics.Aws.Kinesis;

namespace Analytics.Bench.Kinesis;

/// <summary>What one raw read of the whole stream found, and how long it took.</summary>
internal sealed record RawRead(long Events, long Records, int Calls, TimeSpan Elapsed)
{
    public double EventsPerSecond => Events / Elapsed.TotalSeconds;
}

/// <summary>
/// The baseline: the emulator's own GetRecords read rate, with nothing behind it. Every shard in
/// parallel, from TRIM_HORIZON, pages of up to 10,000 records back to back (no pause between
/// calls), until a page comes back empty; each record's NDJSON lines are counted as events.
/// </summary>
internal static class RawReader
{
    /// <param name="pageSize">GetRecords' limit: 10,000 (the most) for the baseline; the silo asks for 1,000.</param>
    public static async Task<RawRead> ReadAllAsync(KinesisClient client, string stream, int pageSize, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var shards = await client.ListAllShardsAsync(stream, cancellationToken: limit.Token);
        var started = Stopwatch.GetTimestamp();
        var read = new StrongBox<long>();
        var reading = Task.WhenAll(shards.Select(s => ReadShardAsync(client, stream, s.ShardId, pageSize, read, limit.Token)));
        while (await Task.WhenAny(reading, Task.Delay(2000, limit.Token)) != reading && !limit.IsCancellationRequested)
        {
            Console.Error.WriteLine($"  raw read {Stopwatch.GetElapsedTime(started).TotalSeconds,5:0} s  events {Interlocked.Read(ref read.Value),12:N0}");
        }

        var perShard = await reading;
        return new RawRead(perShard.Sum(s => s.Events), perShard.Sum(s => s.Records), perShard.Sum(s => s.Calls), Stopwatch.GetElapsedTime(started));
    }

    /// <summary>
    /// The mean time of one GetRecords at the tip of each shard (an empty page, as a caught-up reader
    /// polls), the shards one after another: what a reader pays per poll on a shard of that size.
    /// </summary>
    public static async Task<double> TipPollMillisecondsAsync(KinesisClient client, string stream, CancellationToken cancellationToken)
    {
        var times = new List<double>();
        foreach (var shard in await client.ListAllShardsAsync(stream, cancellationToken: cancellationToken))
        {
            var iterator = await client.GetShardIteratorAsync(stream, shard.ShardId, ShardIteratorType.Latest, cancellationToken: cancellationToken);
            for (var i = 0; i < 3; i++)
            {
                var started = Stopwatch.GetTimestamp();
                var page = await client.GetRecordsAsync(iterator, KinesisLimits.MaxGetRecordsLimit, cancellationToken);
                times.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                iterator = page.NextShardIterator ?? iterator;
            }
        }

        return times.Average();
    }

    private static async Task<(long Events, long Records, int Calls)> ReadShardAsync(KinesisClient client, string stream, string shardId, int pageSize, StrongBox<long> read, CancellationToken cancellationToken)
    {
        var iterator = await client.GetShardIteratorAsync(stream, shardId, ShardIteratorType.TrimHorizon, cancellationToken: cancellationToken);
        long events = 0, records = 0;
        var calls = 0;
        while (true)
        {
            var page = await client.GetRecordsAsync(iterator, pageSize, cancellationToken);
            calls++;
            var pageEvents = 0;
            foreach (var record in page.Records)
            {
                pageEvents += CountLines(record.Data.Span);
            }

            events += pageEvents;
            Interlocked.Add(ref read.Value, pageEvents);
            records += page.Records.Count;
            if (page.Records.Count == 0 || page.NextShardIterator is null)
            {
                return (events, records, calls);
            }

            iterator = page.NextShardIterator;
        }
    }

    /// <summary>Non-empty NDJSON lines: one event each.</summary>
    private static int CountLines(ReadOnlySpan<byte> data)
    {
        var count = 0;
        foreach (var line in data.Split((byte)'\n'))
        {
            if (!data[line].Trim((byte)' ').IsEmpty)
            {
                count++;
            }
        }

        return count;
    }
}
