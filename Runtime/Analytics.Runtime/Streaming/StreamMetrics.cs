using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Analytics.Runtime.Streaming;

/// <summary>
/// Publishes every pulling agent's figures as .NET metrics (meter <see cref="MeterName"/>), one
/// series per queue, so that an OpenTelemetry exporter or <c>dotnet-counters</c> can alarm on
/// them. The most important is the iterator age: for Kinesis, the shard's <c>MillisBehindLatest</c>.
/// The values are read from the agents' statistics when a collector asks; nothing is kept here.
/// </summary>
public sealed class StreamMetrics : IDisposable
{
    public const string MeterName = "Analytics.Streams";

    private readonly Meter _meter;
    private readonly IServiceProvider _services;

    public StreamMetrics(IServiceProvider services, IMeterFactory? meterFactory = null)
    {
        _services = services;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _meter.CreateObservableGauge(
            "analytics.streams.iterator_age",
            () => Measure(s => s.Lag is { } lag ? lag.TotalMilliseconds : null),
            unit: "ms",
            description: "How far each queue's reader is behind the newest record (Kinesis: MillisBehindLatest).");
        _meter.CreateObservableCounter(
            "analytics.streams.records",
            () => Measure(s => (double)s.Records),
            unit: "{record}",
            description: "Records read from each queue since this silo started reading it.");
        _meter.CreateObservableCounter(
            "analytics.streams.poison_records",
            () => Measure(s => (double)s.PoisonRecords),
            unit: "{record}",
            description: "Records of each queue that went to the dead-letter store.");
    }

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<double>> Measure(Func<QueueAgentStatistics, double?> read)
    {
        foreach (var (provider, queue, statistics) in _services.GetPullingAgents())
        {
            if (read(statistics) is { } value)
            {
                yield return new Measurement<double>(value, new TagList { { "provider", provider }, { "queue", queue.ToString() } });
            }
        }
    }
}
