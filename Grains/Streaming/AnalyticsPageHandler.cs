using Analytics.Events;
using Analytics.Streaming;
using Analytics.Grains.Sources;
using Microsoft.Extensions.Options;

namespace Analytics.Grains.Streaming;

/// <summary>
/// What one page of the "events" queue means, in two stages:
/// 1. the events go to their sources' <see cref="ISourceGroupGrain"/>s, one call per group with
///    all of the page's events for its sources, all groups at once; those grains own
///    deduplication and answer with the duplicates they dropped;
/// 2. what is left is combined into one <see cref="MetricPartial"/> per metric and published on the
///    metric's Orleans stream, which the pulling agent delivers to its <see cref="IMetricGrain"/>.
/// So a page costs at most one grain call per source group and one stream event per metric, however
/// many events and sources it holds, and the metric grains never see a duplicate.
/// </summary>
public sealed class AnalyticsPageHandler(IOptions<AnalyticsOptions> options) : IQueuePageHandler
{
    private readonly long _bucketSizeMs = options.Value.GetMetricTiers().Finest.SizeMs;
    private readonly int _groups = options.Value.SourceGroups;

    public async Task<bool> HandleAsync(QueuePage page, IQueuePageContext context)
    {
        var byGroup = new Dictionary<int, (List<AnalyticsEvent> Events, List<QueuePosition> Positions)>();
        foreach (var item in page.Items)
        {
            if (item.Value is not AnalyticsEvent e)
            {
                continue;
            }

            var key = SourceGroups.Of(e.Source, _groups);
            if (!byGroup.TryGetValue(key, out var group))
            {
                byGroup[key] = group = ([], []);
            }

            group.Events.Add(e);
            group.Positions.Add(item.Position);
        }

        var deliveries = new List<Task<DeliveryOutcome>>(byGroup.Count);
        foreach (var (key, group) in byGroup)
        {
            deliveries.Add(context.DeliverAsync(context.GrainFactory.GetGrain<ISourceGroupGrain>(SourceGroups.Key(key)), group.Events, group.Positions));
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
