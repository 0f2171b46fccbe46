using Analytics.Runtime;
using Analytics.Runtime.Streaming;

namespace Analytics.Grains;

/// <summary>
/// One per source (device, user, host). It owns the deduplication of event ids, because all of a
/// source's events travel in one queue, and keeps per-metric rolling windows and the last value.
/// </summary>
public interface ISourceGrain : IStreamConsumer
{
    /// <summary>Null if the source has never been seen.</summary>
    /// <remarks>
    /// Queries are synchronous and change nothing, so they may run while the grain awaits a state
    /// write instead of queueing behind it (see ARCHITECTURE.md, "Query latency").
    /// </remarks>
    [ReadOnly]
    [AlwaysInterleave]
    Task<SourceSummary?> GetSummary(TimeSpan window);

    /// <summary>Null if the source has never reported the metric.</summary>
    [ReadOnly]
    [AlwaysInterleave]
    Task<SeriesResult?> GetSeries(string metric, long fromMs, long toMs, TimeSpan step);
}

/// <summary>One per metric name: fleet-wide windows, percentiles, distinct and top sources.</summary>
public interface IMetricGrain : IStreamConsumer
{
    /// <summary>Null if the metric has never been seen. Interleaves with state writes, as the source grain's queries do.</summary>
    [ReadOnly]
    [AlwaysInterleave]
    Task<MetricStats?> GetStats(TimeSpan window);

    [ReadOnly]
    [AlwaysInterleave]
    Task<SeriesResult?> GetSeries(long fromMs, long toMs, TimeSpan step);

    [ReadOnly]
    [AlwaysInterleave]
    Task<TopResult?> GetTop(TimeSpan window, int k, TopOrder by);
}

/// <summary>The list of known metric names (a single grain, key "all"); metric grains add themselves when they see their first event.</summary>
public interface IMetricCatalogGrain : IGrainWithStringKey
{
    Task Add(string metric);

    [ReadOnly]
    Task<IReadOnlyList<string>> List();
}

public enum TopOrder
{
    Count,
    Max,
    Mean,
}
