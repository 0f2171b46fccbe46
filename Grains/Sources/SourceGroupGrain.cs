using Analytics.Events;
using Analytics.Grains.Windows;
using Orleans.Runtime;
using Analytics.Streaming;
using Microsoft.Extensions.Options;

namespace Analytics.Grains.Sources;

/// <summary>
/// One per source group (<see cref="SourceGroups"/>). It owns deduplication for its sources (a
/// source's events travel in one queue, in order, to this one grain) and keeps, per source and
/// metric, the latest value and coarse rolling buckets.
/// </summary>
/// <remarks>
/// The queue's receiver calls it directly, once a page with all of that page's events for the
/// group, before it publishes the metric stage (see <see cref="Streaming.AnalyticsPageHandler"/>):
/// every duplicate it finds is reported in <see cref="DeliveryOutcome.Dropped"/>, so the metric
/// grains never see it. It reports them for every item it can judge, replays included, so that
/// what the metric grains see does not depend on timing. The state is written at most once a
/// flush interval, at every stream checkpoint, and on deactivation; a write encodes only the
/// sources that changed since the last one (<see cref="SourceRecord.Encode"/>).
/// </remarks>
public sealed class SourceGroupGrain : QueueConsumerGrain, ISourceGroupGrain
{
    private readonly IPersistentState<SourceGroupState> _state;
    private readonly AnalyticsOptions _options;
    private readonly TierSet _tiers;
    private readonly long _horizonMs;

    public SourceGroupGrain(
        [PersistentState("sources", AnalyticsStreams.Storage)] IPersistentState<SourceGroupState> state,
        IOptions<AnalyticsOptions> options,
        TimeProvider time)
        : base(options.Value.FlushInterval, time)
    {
        _state = state;
        _options = options.Value;
        _tiers = _options.GetSourceTiers();
        _horizonMs = (long)_options.DedupHorizon.TotalMilliseconds;
    }

    protected override StreamWatermarks Watermarks => _state.State.Watermarks;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var record in _state.State.Sources.Values)
        {
            foreach (var metric in record.Metrics.Values)
            {
                metric.Attach(_tiers);
            }
        }

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

        var tokens = delivery.Positions ?? throw new InvalidOperationException("Source groups take uncombined deliveries, with a position per item.");
        var applying = outcome.Status == DeliveryStatus.Applied;
        var now = NowMs;
        var queue = Deduplicator.QueueHash(delivery.Queue);
        var sources = _state.State.Sources;
        List<QueuePosition>? dropped = null;
        for (var i = 0; i < delivery.Items.Count; i++)
        {
            var e = delivery.Items[i];
            // Applied: apply every item. Otherwise (a replay, whole or in part) only judge the items
            // up to the watermark; the receiver resends the rest as a delivery of its own.
            if (!applying && outcome.Watermark is { } watermark && tokens[i] > watermark)
            {
                continue;
            }

            if (!sources.TryGetValue(e.Source, out var record))
            {
                if (!applying)
                {
                    // Never applied, so none of its items can be judged a duplicate.
                    continue;
                }

                sources[e.Source] = record = new SourceRecord();
            }

            if (e.Id is { } id)
            {
                var item = Deduplicator.ItemHash(queue, tokens[i]);
                var dedup = record.Dedup(_horizonMs);
                if (applying ? dedup.ClaimOrDetect(id, item, now) : dedup.IsDuplicateOf(id, item))
                {
                    (dropped ??= []).Add(tokens[i]);
                    continue;
                }
            }

            if (applying)
            {
                record.Add(e.Metric, e.Timestamp, e.Value, _tiers, now);
            }
        }

        if (applying)
        {
            _state.State.Watermarks.Advance(delivery);
            Dirty = true;
        }

        return outcome with { Dropped = dropped };
    }

    public Task<SourceSummary?> GetSummary(string source, TimeSpan window)
    {
        // Planned first, so that a window the tiers cannot answer is an error for any source.
        var plan = _tiers.PlanWindow(window, NowMs, "source");
        return Task.FromResult(_state.State.Sources.TryGetValue(source, out var record) ? SourceQueries.Summary(record, plan) : null);
    }

    public Task<SeriesResult?> GetSeries(string source, string metric, long fromMs, long toMs, TimeSpan step)
    {
        var plan = _tiers.PlanSeries(fromMs, toMs, step, NowMs, _options.MaxSeriesPoints);
        return Task.FromResult(_state.State.Sources.TryGetValue(source, out var record) && record.Metrics.TryGetValue(metric, out var data)
            ? SourceQueries.Series(data, plan)
            : null);
    }

    /// <summary>Expires old dedup claims and buckets, then writes the state (re-encoding only changed sources).</summary>
    protected override Task WriteAsync()
    {
        var now = NowMs;
        foreach (var record in _state.State.Sources.Values)
        {
            record.Expire(_tiers, _horizonMs, now);
        }

        return _state.WriteStateAsync();
    }
}
