using Analytics.Events;
using Orleans.Runtime;

namespace Analytics.Grains.Catalog;

/// <summary>The names of every metric seen, sorted (ordinal). One grain, key "all".</summary>
public sealed class CatalogState
{
    public List<string> Metrics { get; set; } = [];
}

/// <summary>
/// The list behind GET /api/metrics. Metric grains add themselves on their first event, so writes
/// happen once per new metric and are saved at once: the list is small and new names are rare.
/// </summary>
public sealed class MetricCatalogGrain([PersistentState("catalog", AnalyticsStreams.Storage)] IPersistentState<CatalogState> state) : Grain, IMetricCatalogGrain
{
    private SortedSet<string> _metrics = null!;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _metrics = new SortedSet<string>(state.State.Metrics, StringComparer.Ordinal);
        return Task.CompletedTask;
    }

    public async Task Add(string metric)
    {
        if (Names.ValidateMetric(metric) is { } error)
        {
            throw new ArgumentException($"metric: {error}", nameof(metric));
        }

        if (!_metrics.Add(metric))
        {
            return;
        }

        state.State.Metrics = [.. _metrics];
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Not saved, so not added: the caller retries, and the set must not claim otherwise.
            _metrics.Remove(metric);
            state.State.Metrics = [.. _metrics];
            throw;
        }
    }

    public Task<IReadOnlyList<string>> List() => Task.FromResult<IReadOnlyList<string>>([.. _metrics]);
}
