using Analytics.Events;
using Analytics.Streaming;
using Orleans.Concurrency;

namespace Analytics.Grains;

/// <summary>
/// One source (device, user, host) as a query target: its first and last seen and per-metric
/// rolling windows. Its data lives in the source's <see cref="ISourceGroupGrain"/>; this grain is
/// a stateless worker on the silo that takes the call, and asks that group.
/// </summary>
[Alias("Analytics.ISourceGrain")]
public interface ISourceGrain : IGrainWithStringKey
{
    /// <summary>Null if the source has never been seen.</summary>
    [ReadOnly]
    [AlwaysInterleave]
    [Alias("GetSummary")]
    Task<SourceSummary?> GetSummary(TimeSpan window);

    /// <summary>Null if the source has never reported the metric.</summary>
    [ReadOnly]
    [AlwaysInterleave]
    [Alias("GetSeries")]
    Task<SeriesResult?> GetSeries(string metric, long fromMs, long toMs, TimeSpan step);
}

/// <summary>
/// The sources of one group (key: the group number, see <c>SourceGroups</c>). It owns their
/// deduplication of event ids, because all of a source's events travel in one queue to this one
/// grain, and keeps per source and metric the rolling windows and the last value. The queue's
/// receiver calls it directly, once a page with all of the page's events for the group, before
/// the metric stage, because the metric grains must never see the duplicates it drops.
/// </summary>
[Alias("Analytics.ISourceGroupGrain")]
public interface ISourceGroupGrain : IQueueConsumer<AnalyticsEvent>
{
    /// <summary>Null if the source has never been seen.</summary>
    /// <remarks>
    /// Queries are synchronous and change nothing, so they may run while the grain awaits a state
    /// write instead of queueing behind it (see ARCHITECTURE.md, "Query latency").
    /// </remarks>
    [ReadOnly]
    [AlwaysInterleave]
    [Alias("GetSummary")]
    Task<SourceSummary?> GetSummary(string source, TimeSpan window);

    /// <summary>Null if the source has never reported the metric.</summary>
    [ReadOnly]
    [AlwaysInterleave]
    [Alias("GetSeries")]
    Task<SeriesResult?> GetSeries(string source, string metric, long fromMs, long toMs, TimeSpan step);
}

/// <summary>
/// One per metric name: fleet-wide windows, percentiles, distinct and top sources. It is fed by
/// an Orleans stream (namespace <see cref="AnalyticsStreams.MetricNamespace"/>, key the metric),
/// and takes part in the queues' checkpoints.
/// </summary>
[Alias("Analytics.IMetricGrain")]
public interface IMetricGrain : IQueueCheckpointParticipant
{
    /// <summary>Null if the metric has never been seen. Interleaves with state writes, as the source grain's queries do.</summary>
    [ReadOnly]
    [AlwaysInterleave]
    [Alias("GetStats")]
    Task<MetricStats?> GetStats(TimeSpan window);

    [ReadOnly]
    [AlwaysInterleave]
    [Alias("GetSeries")]
    Task<SeriesResult?> GetSeries(long fromMs, long toMs, TimeSpan step);

    [ReadOnly]
    [AlwaysInterleave]
    [Alias("GetTop")]
    Task<TopResult?> GetTop(TimeSpan window, int k, TopOrder by);
}

/// <summary>The list of known metric names (a single grain, key "all"); metric grains add themselves when they see their first event.</summary>
[Alias("Analytics.IMetricCatalogGrain")]
public interface IMetricCatalogGrain : IGrainWithStringKey
{
    [Alias("Add")]
    Task Add(string metric);

    [ReadOnly]
    [Alias("List")]
    Task<IReadOnlyList<string>> List();
}

[GenerateSerializer]
public enum TopOrder
{
    Count,
    Max,
    Mean,
}
