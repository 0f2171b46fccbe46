using Analytics.Events;
using Analytics.Grains.Sketches;
using Analytics.Grains.Windows;

namespace Analytics.Grains.Streaming;

/// <summary>
/// One metric's share of a batch, pre-aggregated per finest bucket, so that a metric grain gets one
/// call per batch however many events its metric had. It holds everything any tier needs: the
/// grain folds each bucket into every tier that still retains it, and counts the rest as late.
/// </summary>
/// <remarks>When the metric grain lives on another silo than the shard's agent, the partial crosses the network in the form of <see cref="MetricPartialJsonConverter"/>.</remarks>
[System.Text.Json.Serialization.JsonConverter(typeof(MetricPartialJsonConverter))]
public sealed class MetricPartial(string metric, long bucketSizeMs, int expectedEvents = 0)
{
    public string Metric { get; } = metric;

    /// <summary>Size of the buckets below: the finest tier's, which divides every coarser tier's.</summary>
    public long BucketSizeMs { get; } = bucketSizeMs;

    /// <summary>Aggregates per bucket start.</summary>
    public Dictionary<long, PartialBucket> Buckets { get; } = [];

    /// <summary>Each source's latest event time in the batch, for distinct sources.</summary>
    // Sized for the events the caller expects (a page's count for the metric), so the tables do
    // not regrow as the partial fills: their growth was about a tenth of the silo's allocation.
    public Dictionary<string, long> LatestBySource { get; } = new(expectedEvents, StringComparer.Ordinal);

    public long Count { get; internal set; }

    public void Add(in AnalyticsEvent e)
    {
        var start = TierSet.AlignDown(e.Timestamp, BucketSizeMs);
        if (!Buckets.TryGetValue(start, out var bucket))
        {
            // Most of a page's events fall in one bucket: the first gets the room.
            Buckets[start] = bucket = new PartialBucket(Buckets.Count == 0 ? expectedEvents : 0);
        }

        bucket.Add(e.Source, e.Value);
        if (!LatestBySource.TryGetValue(e.Source, out var latest) || e.Timestamp > latest)
        {
            LatestBySource[e.Source] = e.Timestamp;
        }

        Count++;
    }
}

/// <summary>The events of one metric in one finest bucket of one batch.</summary>
public sealed class PartialBucket
{
    public PartialBucket(int expectedSources = 0)
        : this(new DDSketch(DDSketch.DefaultRelativeAccuracy), expectedSources)
    {
    }

    /// <summary>A bucket around a sketch read back from its binary form (the other fields are set after).</summary>
    internal PartialBucket(DDSketch sketch, int expectedSources = 0)
    {
        Sketch = sketch;
        Sources = new(expectedSources, StringComparer.Ordinal);
    }

    public long Count { get; internal set; }

    public double Sum { get; internal set; }

    public double Min { get; internal set; } = double.PositiveInfinity;

    public double Max { get; internal set; } = double.NegativeInfinity;

    public DDSketch Sketch { get; }

    /// <summary>Per source: count, sum and max, for the buckets' top-k.</summary>
    public Dictionary<string, SourceAggregate> Sources { get; }

    public void Add(string source, double value)
    {
        Count++;
        Sum += value;
        Min = Math.Min(Min, value);
        Max = Math.Max(Max, value);
        Sketch.Add(value);
        Sources[source] = Sources.TryGetValue(source, out var aggregate) ? aggregate.Add(value) : new SourceAggregate(1, value, value);
    }
}

/// <summary>One source's events in one bucket.</summary>
public readonly record struct SourceAggregate(long Count, double Sum, double Max)
{
    public SourceAggregate Add(double value) => new(Count + 1, Sum + value, Math.Max(Max, value));
}
