using Analytics.Events;
using Analytics.Grains.Streaming;
using Analytics.Grains.Windows;
using Orleans.Runtime;
using Orleans.Streams;
using Analytics.Streaming;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Grains.Metrics;

/// <summary>
/// One per metric: fleet-wide event-time buckets in retention tiers, with exact count, sum, min
/// and max, percentiles, distinct sources and top sources.
/// </summary>
/// <remarks>
/// It is fed by an Orleans stream (namespace <see cref="AnalyticsStreams.MetricNamespace"/>, key
/// the metric), on which a queue's receiver publishes one pre-combined <see cref="MetricPartial"/>
/// per page after the source grains dropped duplicates, so it never sees them. Effects are made
/// exactly-once by the watermarks in its state; the state is written at most once a flush interval,
/// at every stream checkpoint, and on deactivation, never per event.
/// </remarks>
[ImplicitStreamSubscription(AnalyticsStreams.MetricNamespace)]
public sealed partial class MetricGrain : QueueConsumerGrain, IMetricGrain, ILocalMetric
{
    private readonly IPersistentState<MetricState> _state;
    private readonly AnalyticsOptions _options;
    private readonly ILogger<MetricGrain> _logger;
    private readonly MetricStore _store;
    private readonly TierSet _tiers;
    private readonly LocalMetrics _local;
    private MetricModel _model = null!;
    private bool _saturationLogged;

    public MetricGrain(
        [PersistentState("metric", AnalyticsStreams.Storage)] IPersistentState<MetricState> state,
        [PersistentState("metric-snapshot-0", AnalyticsStreams.Storage)] IPersistentState<MetricSnapshot> snapshot0,
        [PersistentState("metric-snapshot-1", AnalyticsStreams.Storage)] IPersistentState<MetricSnapshot> snapshot1,
        IOptions<AnalyticsOptions> options,
        LocalMetrics local,
        TimeProvider time,
        ILogger<MetricGrain> logger)
        : base(options.Value.FlushInterval, time)
    {
        _local = local;
        _state = state;
        _options = options.Value;
        _logger = logger;
        _tiers = _options.GetMetricTiers();
        _store = new MetricStore(state, snapshot0, snapshot1, _options, time);
    }

    protected override StreamWatermarks Watermarks => _state.State.Watermarks;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _model = _store.Load(_tiers);
        if (_store.MissingSnapshot is { } generation)
        {
            LogSnapshotMissing(this.GetPrimaryKeyString(), generation);
        }

        StartFlushTimer();
        _local.Register(this.GetPrimaryKeyString(), this);
        var stream = this.GetStreamProvider(AnalyticsStreams.Provider)
            .GetStream<QueueDelivery<MetricPartial>>(StreamId.Create(AnalyticsStreams.MetricNamespace, this.GetPrimaryKeyString()));
        await stream.SubscribeAsync((delivery, _) => OnNextAsync(delivery));
    }

    private async Task OnNextAsync(QueueDelivery<MetricPartial> delivery)
    {
        var outcome = await ApplyOnceAsync(delivery, d =>
        {
            var now = NowMs;
            foreach (var partial in d.Items)
            {
                _model.Apply(partial, now);
            }
        });
        if (outcome.Status == DeliveryStatus.Applied && !_state.State.Registered)
        {
            await RegisterAsync();
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _local.Unregister(this.GetPrimaryKeyString(), this);
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    public Task<MetricStats?> GetStats(TimeSpan window) => Task.FromResult(Stats(window));

    public Task<SeriesResult?> GetSeries(long fromMs, long toMs, TimeSpan step) => Task.FromResult(Series(fromMs, toMs, step));

    public Task<TopResult?> GetTop(TimeSpan window, int k, TopOrder by) => Task.FromResult(Top(window, k, by));

    // The queries proper, for grain calls and for the HTTP API of this silo (LocalMetrics) alike:
    // they only read the model, which takes its own lock, so they may run beside the grain's turn.

    public MetricStats? Stats(TimeSpan window)
    {
        var now = NowMs;
        _tiers.PlanWindow(window, now, "metric");
        return _model.Seen ? _model.Stats(window, now) : null;
    }

    public SeriesResult? Series(long fromMs, long toMs, TimeSpan step)
    {
        var now = NowMs;
        _tiers.PlanSeries(fromMs, toMs, step, now, _options.MaxSeriesPoints);
        return _model.Seen ? _model.Series(fromMs, toMs, step, now, _options.MaxSeriesPoints) : null;
    }

    public TopResult? Top(TimeSpan window, int k, TopOrder by)
    {
        var now = NowMs;
        _tiers.PlanWindow(window, now, "metric");
        return _model.Seen ? _model.Top(window, k, by, now) : null;
    }

    /// <summary>Adds the metric to the catalog once. Idempotent, so a crash before the flag is saved only repeats it.</summary>
    private async Task RegisterAsync()
    {
        try
        {
            await GrainFactory.GetGrain<IMetricCatalogGrain>("all").Add(this.GetPrimaryKeyString());
            _state.State.Registered = true;
            Dirty = true;
        }
        catch (Exception exception)
        {
            // The next flush tries again; the metric's own numbers do not depend on the catalog.
            LogRegisterFailed(exception, this.GetPrimaryKeyString());
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
            LogDistinctSaturated(this.GetPrimaryKeyString(), _model.Sources.Capacity);
        }
    }


    [LoggerMessage(Level = LogLevel.Warning, Message = "Metric {Metric}: adding it to the catalog failed; retrying at the next flush")]
    private partial void LogRegisterFailed(Exception exception, string metric);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Metric {Metric} has more than {Capacity} sources: distinctSources now undercounts windows with more active sources than that (raise Analytics:DistinctSourceCapacity)")]
    private partial void LogDistinctSaturated(string metric, int capacity);

    [LoggerMessage(Level = LogLevel.Error, Message = "Metric {Metric}: its state names bucket snapshot {Generation}, which storage does not hold; only the buckets changed since then are loaded")]
    private partial void LogSnapshotMissing(string metric, long generation);
}
