using Analytics.Events;
using Analytics.Grains.Streaming;
using Analytics.Grains.Windows;
using Analytics.Runtime;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Grains.Metrics;

/// <summary>
/// One per metric: fleet-wide event-time buckets in retention tiers, with exact count, sum, min
/// and max, percentiles, distinct sources and top sources.
/// </summary>
/// <remarks>
/// It subscribes after the source grains (Order 1), so it never sees the duplicates they drop,
/// and gets one pre-combined <see cref="MetricPartial"/> per queue batch. Effects are made
/// exactly-once by the watermarks in its state; the state is written at most about once a second,
/// at every stream checkpoint, and on deactivation, never per event.
/// </remarks>
[ImplicitStreamSubscription(AnalyticsStreams.Namespace, KeyMapper = typeof(MetricKeyMapper), Combiner = typeof(MetricPartialCombiner), Order = 1)]
public sealed partial class MetricGrain : StreamConsumerGrain, IMetricGrain
{
    private readonly IPersistentState<MetricState> _state;
    private readonly AnalyticsOptions _options;
    private readonly ILogger<MetricGrain> _logger;
    private readonly MetricStore _store;
    private readonly TierSet _tiers;
    private MetricModel _model = null!;
    private bool _saturationLogged;

    public MetricGrain(
        [PersistentState("metric", AnalyticsStreams.Storage)] IPersistentState<MetricState> state,
        [PersistentState("metric-snapshot-0", AnalyticsStreams.Storage)] IPersistentState<MetricSnapshot> snapshot0,
        [PersistentState("metric-snapshot-1", AnalyticsStreams.Storage)] IPersistentState<MetricSnapshot> snapshot1,
        IOptions<AnalyticsOptions> options,
        TimeProvider time,
        ILogger<MetricGrain> logger)
        : base(options.Value.FlushInterval, time)
    {
        _state = state;
        _options = options.Value;
        _logger = logger;
        _tiers = _options.GetMetricTiers();
        _store = new MetricStore(state, snapshot0, snapshot1, _options, time);
    }

    protected override StreamWatermarks Watermarks => _state.State.Watermarks;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _model = _store.Load(_tiers);
        if (_store.MissingSnapshot is { } generation)
        {
            LogSnapshotMissing(GetPrimaryKeyString(), generation);
        }

        StartFlushTimer();
        return Task.CompletedTask;
    }

    public async Task<DeliveryOutcome> OnNextAsync(StreamDelivery delivery)
    {
        var outcome = _state.State.Watermarks.Check(delivery);
        if (outcome.Status != DeliveryStatus.Applied)
        {
            return outcome;
        }

        var now = NowMs;
        foreach (var item in delivery.Items)
        {
            _model.Apply(item as MetricPartial ?? Combine(item), now);
        }

        _state.State.Watermarks.Advance(delivery);
        Dirty = true;
        if (!_state.State.Registered)
        {
            await RegisterAsync();
        }

        return outcome;
    }

    public Task<MetricStats?> GetStats(TimeSpan window)
    {
        var now = NowMs;
        _tiers.PlanWindow(window, now, "metric");
        return Task.FromResult(_model.Seen ? _model.Stats(window, now) : null);
    }

    public Task<SeriesResult?> GetSeries(long fromMs, long toMs, TimeSpan step)
    {
        var now = NowMs;
        _tiers.PlanSeries(fromMs, toMs, step, now, _options.MaxSeriesPoints);
        return Task.FromResult(_model.Seen ? _model.Series(fromMs, toMs, step, now, _options.MaxSeriesPoints) : null);
    }

    public Task<TopResult?> GetTop(TimeSpan window, int k, TopOrder by)
    {
        var now = NowMs;
        _tiers.PlanWindow(window, now, "metric");
        return Task.FromResult(_model.Seen ? _model.Top(window, k, by, now) : null);
    }

    /// <summary>An item that did not come through the combiner (only if the subscription lost it): combine it alone.</summary>
    private MetricPartial Combine(object item)
    {
        var partial = new MetricPartial(GetPrimaryKeyString(), _tiers.Finest.SizeMs);
        if (item is AnalyticsEvent e)
        {
            partial.Add(e);
        }

        return partial;
    }

    /// <summary>Adds the metric to the catalog once. Idempotent, so a crash before the flag is saved only repeats it.</summary>
    private async Task RegisterAsync()
    {
        try
        {
            await GrainFactory.GetGrain<IMetricCatalogGrain>("all").Add(GetPrimaryKeyString());
            _state.State.Registered = true;
            Dirty = true;
        }
        catch (Exception exception)
        {
            // The next flush tries again; the metric's own numbers do not depend on the catalog.
            LogRegisterFailed(exception, GetPrimaryKeyString());
        }
    }

    /// <summary>The catalog entry may still be missing (its first try failed): add it before writing.</summary>
    protected override async Task BeforeFlushAsync()
    {
        if (_model.Seen && !_state.State.Registered)
        {
            await RegisterAsync();
        }
    }

    protected override async Task WriteAsync()
    {
        await _store.WriteAsync(_model, NowMs);
        if (_model.Sources.Saturated && !_saturationLogged)
        {
            _saturationLogged = true;
            LogDistinctSaturated(GetPrimaryKeyString(), _model.Sources.Capacity);
        }
    }


    [LoggerMessage(Level = LogLevel.Warning, Message = "Metric {Metric}: adding it to the catalog failed; retrying at the next flush")]
    private partial void LogRegisterFailed(Exception exception, string metric);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Metric {Metric} has more than {Capacity} sources: distinctSources now undercounts windows with more active sources than that (raise Analytics:DistinctSourceCapacity)")]
    private partial void LogDistinctSaturated(string metric, int capacity);

    [LoggerMessage(Level = LogLevel.Error, Message = "Metric {Metric}: its state names bucket snapshot {Generation}, which storage does not hold; only the buckets changed since then are loaded")]
    private partial void LogSnapshotMissing(string metric, long generation);
}
