using Analytics.Events;
using Analytics.Streaming;
using Microsoft.Extensions.Options;

namespace Analytics.Grains.Streaming;

/// <summary>
/// What one page of the "events" queue means, in two stages:
/// 1. each source's events go to its <see cref="ISourceGrain"/>, directly and all sources at once;
///    those grains own deduplication and answer with the duplicates they dropped;
/// 2. what is left is combined into one <see cref="MetricPartial"/> per metric and published on the
///    metric's Orleans stream, which the pulling agent delivers to its <see cref="IMetricGrain"/>.
/// So a page costs one grain call per source and one stream event per metric, however many events
/// it holds, and the metric grains never see a duplicate.
/// </summary>
public sealed class AnalyticsPageHandler(IOptions<AnalyticsOptions> options) : IQueuePageHandler
{
    private readonly long _bucketSizeMs = options.Value.GetMetricTiers().Finest.SizeMs;

    public async Task<bool> HandleAsync(QueuePage page, IQueuePageContext context)
    {
        var bySource = new Dictionary<string, (List<AnalyticsEvent> Events, List<QueuePosition> Positions)>(StringComparer.Ordinal);
        foreach (var item in page.Items)
        {
            if (item.Value is not AnalyticsEvent e)
            {
                continue;
            }

            if (!bySource.TryGetValue(e.Source, out var group))
            {
                bySource[e.Source] = group = ([], []);
            }

            group.Events.Add(e);
            group.Positions.Add(item.Position);
        }

        var deliveries = new List<Task<DeliveryOutcome>>(bySource.Count);
        foreach (var (source, group) in bySource)
        {
            deliveries.Add(context.DeliverAsync(context.GrainFactory.GetGrain<ISourceGrain>(source), group.Events, group.Positions));
        }

        var outcomes = await Task.WhenAll(deliveries);
        HashSet<QueuePosition>? dropped = null;
        foreach (var outcome in outcomes)
        {
            if (outcome.Status == DeliveryStatus.Gap)
            {
                return false;
            }

            if (outcome.Dropped is { Count: > 0 } positions)
            {
                (dropped ??= []).UnionWith(positions);
            }
        }

        var byMetric = new Dictionary<string, (MetricPartial Partial, QueuePosition First, QueuePosition Last)>(StringComparer.Ordinal);
        foreach (var item in page.Items)
        {
            if (item.Value is not AnalyticsEvent e || (dropped is not null && dropped.Contains(item.Position)))
            {
                continue;
            }

            if (!byMetric.TryGetValue(e.Metric, out var entry))
            {
                entry = (new MetricPartial(e.Metric, _bucketSizeMs), item.Position, item.Position);
            }

            entry.Partial.Add(e);
            byMetric[e.Metric] = entry with { Last = item.Position };
        }

        foreach (var (metric, entry) in byMetric)
        {
            context.Publish(
                Orleans.Runtime.StreamId.Create(AnalyticsStreams.MetricNamespace, metric),
                entry.Partial,
                entry.First,
                entry.Last,
                context.GrainFactory.GetGrain<IMetricGrain>(metric));
        }

        return true;
    }
}
