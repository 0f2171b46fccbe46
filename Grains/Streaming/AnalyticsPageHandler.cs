using System.Collections.Concurrent;
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

    // Grain references by group number: GetGrain resolves the interface type by reflection each
    // time, which the profile showed at a grain call per group per page.
    private ISourceGroupGrain?[]? _groupGrains;

    // The same for metrics, which are fewer than sources but unbounded: the cache starts over past a limit.
    private readonly ConcurrentDictionary<string, IMetricGrain> _metricGrains = new(StringComparer.Ordinal);

    private IMetricGrain MetricGrain(IQueuePageContext context, string metric)
    {
        if (_metricGrains.TryGetValue(metric, out var grain))
        {
            return grain;
        }

        if (_metricGrains.Count >= 10_000)
        {
            _metricGrains.Clear();
        }

        return _metricGrains[metric] = context.GrainFactory.GetGrain<IMetricGrain>(metric);
    }

    public async Task<bool> HandleAsync(QueuePage page, IQueuePageContext context)
    {
        // Two passes, so each group gets arrays of exactly its events (a page of 1,000 events
        // otherwise regrew two lists for each of 64 groups).
        var items = page.Items;
        var groupOf = new int[items.Count];
        var counts = new int[_groups];
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i].Value is AnalyticsEvent e)
            {
                var group = SourceGroups.Of(e.Source, _groups);
                groupOf[i] = group;
                counts[group]++;
            }
            else
            {
                groupOf[i] = -1;
            }
        }

        var events = new AnalyticsEvent[_groups][];
        var positions = new QueuePosition[_groups][];
        for (var g = 0; g < _groups; g++)
        {
            if (counts[g] > 0)
            {
                events[g] = new AnalyticsEvent[counts[g]];
                positions[g] = new QueuePosition[counts[g]];
                counts[g] = 0;
            }
        }

        for (var i = 0; i < items.Count; i++)
        {
            if (groupOf[i] is var g and >= 0)
            {
                events[g][counts[g]] = (AnalyticsEvent)items[i].Value;
                positions[g][counts[g]++] = items[i].Position;
            }
        }

        var grains = _groupGrains ??= new ISourceGroupGrain?[_groups];
        var deliveries = new List<Task<DeliveryOutcome>>();
        for (var g = 0; g < _groups; g++)
        {
            if (events[g] is { } groupEvents)
            {
                var grain = grains[g] ??= context.GrainFactory.GetGrain<ISourceGroupGrain>(SourceGroups.Key(g));
                deliveries.Add(context.DeliverAsync(grain, groupEvents, positions[g]));
            }
        }

        var outcomes = await Task.WhenAll(deliveries);
        HashSet<QueuePosition>? dropped = null;
        foreach (var outcome in outcomes)
        {
            if (outcome.Status == DeliveryStatus.Gap)
            {
                return false;
            }

            if (outcome.Dropped is { Count: > 0 } droppedHere)
            {
                (dropped ??= []).UnionWith(droppedHere);
            }
        }

        // Counted first, so that each metric's partial is sized for its events.
        var perMetric = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var item in page.Items)
        {
            if (item.Value is AnalyticsEvent counted)
            {
                System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(perMetric, counted.Metric, out _)++;
            }
        }

        var byMetric = new Dictionary<string, (MetricPartial Partial, QueuePosition First, QueuePosition Last)>(perMetric.Count, StringComparer.Ordinal);
        foreach (var item in page.Items)
        {
            if (item.Value is not AnalyticsEvent e || (dropped is not null && dropped.Contains(item.Position)))
            {
                continue;
            }

            if (!byMetric.TryGetValue(e.Metric, out var entry))
            {
                entry = (new MetricPartial(e.Metric, _bucketSizeMs, perMetric[e.Metric]), item.Position, item.Position);
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
                MetricGrain(context, metric));
        }

        return true;
    }
}
