using Analytics.Events;
using Analytics.Grains.Streaming;
using Analytics.Grains.Windows;
using Orleans.Runtime;
using Analytics.Streaming;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Grains.Sources;

/// <summary>
/// One per source. It owns deduplication (a source's events travel in one queue, in order, to this
/// one grain) and keeps, per metric, the latest value and coarse rolling buckets.
/// </summary>
/// <remarks>
/// The queue's receiver calls it directly, before it publishes the metric stage (see
/// <see cref="Streaming.AnalyticsPageHandler"/>): every duplicate it finds is reported in
/// <see cref="DeliveryOutcome.Dropped"/>, so the metric grains never see it. It reports them for
/// every item it can judge, replays included, so that what the metric grains see does not depend
/// on timing. The state is written at most once a flush interval, at every stream checkpoint, and
/// on deactivation.
/// </remarks>
public sealed partial class SourceGrain : QueueConsumerGrain, ISourceGrain
{
    private readonly IPersistentState<SourceState> _state;
    private readonly AnalyticsOptions _options;
    private readonly ILogger<SourceGrain> _logger;
    private readonly TierSet _tiers;
    private Deduplicator _dedup = null!;

    public SourceGrain(
        [PersistentState("source", AnalyticsStreams.Storage)] IPersistentState<SourceState> state,
        IOptions<AnalyticsOptions> options,
        TimeProvider time,
        ILogger<SourceGrain> logger)
        : base(options.Value.FlushInterval, time)
    {
        _state = state;
        _options = options.Value;
        _logger = logger;
        _tiers = _options.GetSourceTiers();
    }

    protected override StreamWatermarks Watermarks => _state.State.Watermarks;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var metric in _state.State.Metrics.Values)
        {
            metric.Attach(_tiers);
        }

        _dedup = new Deduplicator(_state.State.Claims, (long)_options.DedupHorizon.TotalMilliseconds);
        StartFlushTimer();
        return Task.CompletedTask;
    }

    public async Task<DeliveryOutcome> OnNextAsync(QueueDelivery<AnalyticsEvent> delivery)
    {
        // A stale activation's claims are old: its answers would let duplicates through.
        if (await IsStaleAsync(delivery))
        {
            return new DeliveryOutcome(DeliveryStatus.Gap, _state.State.Watermarks.Get(delivery.Queue));
        }

        var outcome = _state.State.Watermarks.Check(delivery);
        if (outcome.Status == DeliveryStatus.Gap)
        {
            return outcome;
        }

        var tokens = delivery.Positions ?? throw new InvalidOperationException("Source grains take uncombined deliveries, with a position per item.");
        var applying = outcome.Status == DeliveryStatus.Applied;
        var now = NowMs;
        var queue = Deduplicator.QueueHash(delivery.Queue);
        List<QueuePosition>? dropped = null;
        for (var i = 0; i < delivery.Items.Count; i++)
        {
            var e = delivery.Items[i];
            // Applied: apply every item. Otherwise (a replay, whole or in part) only judge the items
            // up to the watermark; the agent resends the rest as a delivery of its own.
            var fresh = applying;
            if (!fresh && outcome.Watermark is { } watermark && tokens[i] > watermark)
            {
                continue;
            }

            if (e.Id is { } id)
            {
                var item = Deduplicator.ItemHash(queue, tokens[i]);
                if (fresh ? _dedup.ClaimOrDetect(id, item, now) : _dedup.IsDuplicateOf(id, item))
                {
                    (dropped ??= []).Add(tokens[i]);
                    continue;
                }
            }

            if (fresh)
            {
                Apply(e, now);
            }
        }

        if (applying)
        {
            _state.State.Watermarks.Advance(delivery);
            Dirty = true;
        }

        return outcome with { Dropped = dropped };
    }

    public Task<SourceSummary?> GetSummary(TimeSpan window)
    {
        var plan = _tiers.PlanWindow(window, NowMs, "source");
        var state = _state.State;
        if (state.FirstSeen is not { } firstSeen || state.LastSeen is not { } lastSeen)
        {
            return Task.FromResult<SourceSummary?>(null);
        }

        var metrics = new Dictionary<string, SourceMetricSummary>(state.Metrics.Count, StringComparer.Ordinal);
        foreach (var (name, metric) in state.Metrics)
        {
            var total = default(Totals);
            foreach (ref readonly var cell in metric.Tiers[plan.Tier].Cells)
            {
                if (cell.Start >= plan.FromMs && cell.Start < plan.ToMs)
                {
                    total.Add(cell);
                }
            }

            metrics[name] = new SourceMetricSummary(metric.Last, metric.LastTimestamp, total.Count, total.MinOrNull, total.MaxOrNull, total.Mean);
        }

        return Task.FromResult<SourceSummary?>(new SourceSummary(firstSeen, lastSeen, metrics));
    }

    /// <remarks>Source buckets keep no value sketch (it would not fit 8 KB a metric), so P50 and P99 are always null.</remarks>
    public Task<SeriesResult?> GetSeries(string metric, long fromMs, long toMs, TimeSpan step)
    {
        var plan = _tiers.PlanSeries(fromMs, toMs, step, NowMs, _options.MaxSeriesPoints);
        if (!_state.State.Metrics.TryGetValue(metric, out var data))
        {
            return Task.FromResult<SeriesResult?>(null);
        }

        var totals = new Totals[plan.Points];
        foreach (ref readonly var cell in data.Tiers[plan.Tier].Cells)
        {
            if (cell.Start >= plan.StartMs && cell.Start < plan.EndMs)
            {
                totals[(cell.Start - plan.StartMs) / plan.StepMs].Add(cell);
            }
        }

        var points = new SeriesPoint[plan.Points];
        for (var i = 0; i < points.Length; i++)
        {
            ref readonly var t = ref totals[i];
            points[i] = new SeriesPoint(plan.StartMs + (i * plan.StepMs), t.Count, t.Sum, t.MinOrNull, t.MaxOrNull, t.Mean, null, null);
        }

        return Task.FromResult<SeriesResult?>(new SeriesResult(plan.StepMs, points));
    }

    private void Apply(in AnalyticsEvent e, long nowMs)
    {
        var state = _state.State;
        state.FirstSeen = Math.Min(state.FirstSeen ?? long.MaxValue, e.Timestamp);
        state.LastSeen = Math.Max(state.LastSeen ?? long.MinValue, e.Timestamp);
        if (!state.Metrics.TryGetValue(e.Metric, out var metric))
        {
            state.Metrics[e.Metric] = metric = new SourceMetric();
            metric.Attach(_tiers);
        }

        metric.Add(e.Timestamp, e.Value, _tiers, nowMs);
    }

    /// <summary>Expires old dedup claims and buckets, then writes the whole state.</summary>
    protected override Task WriteAsync()
    {
        var now = NowMs;
        _dedup.Expire(now);
        foreach (var metric in _state.State.Metrics.Values)
        {
            for (var i = 0; i < _tiers.Count; i++)
            {
                metric.Tiers[i].Prune(_tiers[i].OldestRetained(now));
            }
        }

        return _state.WriteStateAsync();
    }

    /// <summary>Buckets merged for one answer.</summary>
    private struct Totals
    {
        public long Count;
        public double Sum;
        private double _min;
        private double _max;

        public readonly double? MinOrNull => Count == 0 ? null : _min;

        public readonly double? MaxOrNull => Count == 0 ? null : _max;

        public readonly double? Mean => Count == 0 ? null : Sum / Count;

        public void Add(in Cell cell)
        {
            _min = Count == 0 ? cell.Min : Math.Min(_min, cell.Min);
            _max = Count == 0 ? cell.Max : Math.Max(_max, cell.Max);
            Count += cell.Count;
            Sum += cell.Sum;
        }
    }

}
