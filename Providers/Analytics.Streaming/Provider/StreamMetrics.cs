using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Analytics.Streaming;

/// <summary>
/// Publishes every receiver's figures as .NET metrics (meter <see cref="MeterName"/>), one series
/// per queue, so that an OpenTelemetry exporter or <c>dotnet-counters</c> can alarm on them. The
/// most important is the iterator age: for Kinesis, the shard's <c>MillisBehindLatest</c>. Values
/// are read from <see cref="QueueStatisticsRegistry"/> when a collector asks; nothing is kept here.
/// </summary>
public sealed class StreamMetrics : IDisposable
{
    public const string MeterName = "Analytics.Streams";

    private readonly Meter _meter;
    private readonly QueueStatisticsRegistry _registry;

    public StreamMetrics(QueueStatisticsRegistry registry, IMeterFactory? meterFactory = null)
    {
        _registry = registry;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _meter.CreateObservableGauge(
            "analytics.streams.iterator_age",
            () => Measure(s => s.Lag is { } lag ? lag.TotalMilliseconds : null),
            unit: "ms",
            description: "How far each queue's reader is behind the newest record (Kinesis: MillisBehindLatest).");
        _meter.CreateObservableCounter(
            "analytics.streams.records",
            () => Measure(s => s.Records),
            unit: "{record}",
            description: "Records read from each queue since this silo started reading it (replays included).");
        _meter.CreateObservableCounter(
            "analytics.streams.poison_records",
            () => Measure(s => s.PoisonRecords),
            unit: "{record}",
            description: "Records of each queue that went to the dead-letter store.");
        _meter.CreateObservableCounter(
            "analytics.streams.rewinds",
            () => Measure(s => s.Rewinds),
            unit: "{rewind}",
            description: "Replays of each queue from its checkpoint.");
        _meter.CreateObservableCounter(
            "analytics.streams.checkpoints",
            () => Measure(s => s.Checkpoints),
            unit: "{checkpoint}",
            description: "Checkpoints each queue's receiver saved.");
    }

    /// <summary>This silo's meter (a process may host several silos, each with a meter of this name).</summary>
    internal Meter Meter => _meter;

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<double>> Measure(Func<QueueStatistics, double?> read)
    {
        foreach (var statistics in _registry.Active)
        {
            if (read(statistics) is { } value)
            {
                yield return new Measurement<double>(value, new TagList { { "provider", statistics.Provider }, { "queue", statistics.Queue } });
            }
        }
    }
}
