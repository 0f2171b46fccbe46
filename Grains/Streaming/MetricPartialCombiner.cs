using Analytics.Events;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.Options;

namespace Analytics.Grains.Streaming;

/// <summary>
/// Reduces one metric's events of a batch to one <see cref="MetricPartial"/> before the grain call,
/// so the calls per batch grow with the distinct metrics in it, not with its events.
/// </summary>
public sealed class MetricPartialCombiner(IOptions<AnalyticsOptions> options) : IStreamItemCombiner
{
    private readonly long _bucketSizeMs = options.Value.GetMetricTiers().Finest.SizeMs;

    public object Combine(string grainKey, IReadOnlyList<StreamItem> items)
    {
        var partial = new MetricPartial(grainKey, _bucketSizeMs);
        foreach (var item in items)
        {
            if (item.Value is AnalyticsEvent e)
            {
                partial.Add(e);
            }
        }

        return partial;
    }
}
