using System.Collections.Concurrent;

namespace Analytics.Grains.Metrics;

/// <summary>
/// The metric grains active in this silo, by metric, so that the HTTP API can answer a query of
/// one of them on the request's own thread instead of through a grain call.
/// </summary>
/// <remarks>
/// A grain call is two trips through the thread pool (the request to the activation, the answer
/// back), and while a batch is being ingested the pool's queues hold milliseconds of work ahead
/// of them: that queueing, not the query, was most of a query's latency under load (PERFORMANCE.md,
/// issue 14). The model a grain registers is safe to read beside the grain's own turn (see
/// <see cref="MetricModel"/>). A metric whose grain is elsewhere in the cluster, or not active,
/// is not here, and the caller falls back to the grain call, which also activates it.
/// </remarks>
public sealed class LocalMetrics
{
    private readonly ConcurrentDictionary<string, ILocalMetric> _active = new(StringComparer.Ordinal);

    public int Count => _active.Count;

    public bool TryGet(string metric, out ILocalMetric local) => _active.TryGetValue(metric, out local!);

    internal void Register(string metric, ILocalMetric local) => _active[metric] = local;

    /// <summary>Removes the entry only if it is still this activation's (a newer one may have replaced it).</summary>
    internal void Unregister(string metric, ILocalMetric local) => _active.TryRemove(KeyValuePair.Create(metric, local));
}

/// <summary>The queries of <see cref="IMetricGrain"/>, answered synchronously by an active metric grain of this silo.</summary>
public interface ILocalMetric
{
    /// <inheritdoc cref="IMetricGrain.GetStats"/>
    MetricStats? Stats(TimeSpan window);

    /// <inheritdoc cref="IMetricGrain.GetSeries"/>
    SeriesResult? Series(long fromMs, long toMs, TimeSpan step);

    /// <inheritdoc cref="IMetricGrain.GetTop"/>
    TopResult? Top(TimeSpan window, int k, TopOrder by);
}
