using System.Globalization;
using System.Text;
using Analytics.Aws.Kinesis;
using Analytics.Streaming.Kinesis;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Bench.Kinesis;

/// <summary>One event as the bench puts it: integer values, so that sums are exact in any order.</summary>
internal sealed record BenchEvent(string Source, string Metric, long Value, long Timestamp, string Id)
{
    public string Json() =>
        $"{{\"source\":\"{Source}\",\"metric\":\"{Metric}\",\"value\":{Value.ToString(CultureInfo.InvariantCulture)},"
        + $"\"timestamp\":\"{DateTimeOffset.FromUnixTimeMilliseconds(Timestamp).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)}\",\"id\":\"{Id}\"}}";
}

/// <summary>What the silo should report per metric once everything put is counted.</summary>
internal sealed class Expected
{
    private readonly Dictionary<string, (long Count, long Sum)> _metrics = new(StringComparer.Ordinal);

    public long Total
    {
        get
        {
            lock (_metrics)
            {
                return _metrics.Values.Sum(m => m.Count);
            }
        }
    }

    public (long Count, long Sum) this[string metric]
    {
        get
        {
            lock (_metrics)
            {
                return _metrics.GetValueOrDefault(metric);
            }
        }
    }

    public void Add(IEnumerable<BenchEvent> events)
    {
        lock (_metrics)
        {
            foreach (var e in events)
            {
                var (count, sum) = _metrics.GetValueOrDefault(e.Metric);
                _metrics[e.Metric] = (count + 1, sum + e.Value);
            }
        }
    }
}

/// <summary>
/// Puts events into Kinesis as producers do: each source's events, in order, packed into NDJSON
/// records of up to 25 events, partition key = source (the approach of KinesisProducer.PutAsync in
/// Tests/EndToEnd.Tests/AwsSilo.cs). kinesis-mock's PutRecords slows down about quadratically with
/// the records already in a shard, so packing keeps every shard to a few thousand records.
/// </summary>
internal sealed class Producer(KinesisClient client, string stream, string[] metrics, int sources)
{
    public const int EventsPerRecord = 25;

    private readonly KinesisQueueWriter _writer = new(client, new KinesisStreamOptions { StreamName = stream }, TimeProvider.System, NullLogger<KinesisQueueWriter>.Instance);
    private readonly Random _random = new(7);
    private long _next;
    private int _nextSource;

    public long Records { get; private set; }

    public static string SourceName(int n) => $"dev-{n:D5}";

    /// <summary>
    /// <paramref name="count"/> events spread evenly over all sources, each source getting every
    /// metric in turn; timestamps within the last 2 minutes, ids unique in the run.
    /// </summary>
    public List<BenchEvent> Spread(int count, string idPrefix)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var events = new List<BenchEvent>(count);
        for (var n = 0; n < count; n++)
        {
            events.Add(Create(SourceName(n % sources), metrics[n / sources % metrics.Length], now, idPrefix));
        }

        return events;
    }

    /// <summary>
    /// <paramref name="count"/> events in full records of <see cref="EventsPerRecord"/> from the
    /// next sources in turn, so that a small batch still packs well: at 500 events a batch that is
    /// 20 records, not 500 records of one event each.
    /// </summary>
    public List<BenchEvent> Packed(int count, string idPrefix)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var events = new List<BenchEvent>(count);
        while (events.Count < count)
        {
            var source = SourceName(_nextSource++ % sources);
            for (var i = 0; i < EventsPerRecord && events.Count < count; i++)
            {
                events.Add(Create(source, metrics[(int)(_next % metrics.Length)], now, idPrefix));
            }
        }

        return events;
    }

    public async Task PutAsync(IReadOnlyList<BenchEvent> events, CancellationToken cancellationToken)
    {
        var records = new List<(string, ReadOnlyMemory<byte>)>();
        foreach (var source in events.GroupBy(e => e.Source))
        {
            foreach (var chunk in source.Chunk(EventsPerRecord))
            {
                records.Add((source.Key, Encoding.UTF8.GetBytes(string.Join("\n", chunk.Select(e => e.Json())))));
            }
        }

        await _writer.AppendAsync(records, cancellationToken);
        Records += records.Count;
    }

    private BenchEvent Create(string source, string metric, long now, string idPrefix) =>
        new(source, metric, _random.Next(-1000, 1001), now - _random.Next(0, 120_000), $"{idPrefix}-{(_next++).ToString(CultureInfo.InvariantCulture)}");
}
