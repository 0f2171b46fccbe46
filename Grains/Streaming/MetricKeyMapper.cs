using Analytics.Events;
using Analytics.Runtime.Streaming;

namespace Analytics.Grains.Streaming;

/// <summary>Sends each event to the grain of its metric (the stream key is the source).</summary>
public sealed class MetricKeyMapper : IStreamKeyMapper
{
    public string? GetGrainKey(in StreamItem item) => item.Value is AnalyticsEvent e ? e.Metric : null;
}
