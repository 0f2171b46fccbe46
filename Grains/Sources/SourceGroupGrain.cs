using Analytics.Events;
using Analytics.Grains.Windows;
using Orleans.Runtime;
using Analytics.Streaming;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

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
/// flush interval, at a stream checkpoint that no write covers yet, and on deactivation; the dedup
/// claims are written incrementally: those in no segment yet inside the state while they are
/// few (<see cref="AnalyticsOptions.InlineClaims"/>), otherwise all of them as one new segment.
/// </remarks>
public sealed partial class SourceGroupGrain : QueueConsumerGrain, ISourceGroupGrain
{
    private readonly IPersistentState<SourceGroupState> _state;
    private readonly AnalyticsOptions _options;
    private readonly ILogger<SourceGroupGrain> _logger;
    private readonly TierSet _tiers;
    private readonly Deduplicator _dedup;
    private ClaimSegmentStore _segments = null!;

    public SourceGroupGrain(
        [PersistentState("sources", AnalyticsStreams.Storage)] IPersistentState<SourceGroupState> state,
        IOptions<AnalyticsOptions> options,
        TimeProvider time,
        ILogger<SourceGroupGrain> logger)
        : base(options.Value.FlushInterval, time)
    {
        _state = state;
        _options = options.Value;
        _logger = logger;
        _tiers = _options.GetSourceTiers();
        _dedup = new Deduplicator((long)_options.DedupHorizon.TotalMilliseconds, _options.InlineClaims);
    }

    protected override StreamWatermarks Watermarks => _state.State.Watermarks;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var record in _state.State.Sources.Values)
        {
            foreach (var metric in record.Metrics.Values)
            {
                metric.Attach(_tiers);
            }
        }

        _segments = new ClaimSegmentStore(ServiceProvider.GetRequiredKeyedService<IGrainStorage>(AnalyticsStreams.Storage), this.GetGrainId());
        var listed = _state.State.ClaimSegments;
        var loaded = await Task.WhenAll(listed.Select(s => _segments.ReadAsync(s.Name)));
        for (var i = 0; i < listed.Count; i++)
        {
            if (loaded[i] is { } claims)
            {
                _dedup.Load(listed[i].Name, listed[i].NewestArrival, claims);
            }
            else
            {
                // Its ids can no longer be recognised as duplicates; everything else is intact.
                LogSegmentMissing(this.GetGrainId(), listed[i].Name);
            }
        }

        _dedup.LoadInline(_state.State.InlineClaims);

        StartFlushTimer();
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
                var key = Deduplicator.ClaimKey(e.Source, id);
                if (applying ? _dedup.ClaimOrDetect(key, item, now) : _dedup.IsDuplicateOf(key, item))
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

    /// <summary>
    /// Expires old buckets and claims; puts the claims in no segment into the state when they are
    /// few, or else writes them as a new segment that the state lists; writes the state, and
    /// deletes retired segments once that succeeded.
    /// </summary>
    protected override async Task WriteAsync()
    {
        var state = _state.State;
        var now = NowMs;
        foreach (var record in state.Sources.Values)
        {
            record.Expire(_tiers, now);
        }

        foreach (var expired in _dedup.Expire(now))
        {
            state.ClaimSegments.RemoveAll(s => s.Name == expired);
            state.RetiredSegments.Add(expired);
        }

        var unsegmented = _dedup.Unsegmented;
        ClaimSegmentRef? segment = null;
        if (_dedup.FitsInline)
        {
            // They stay unsegmented: if this write fails, the next one carries them all the same.
            state.InlineClaims = _dedup.EncodeUnsegmented(out _);
        }
        else
        {
            var claims = _dedup.EncodeUnsegmented(out var newest);
            var name = state.NextSegment;
            if (!await _segments.TryCreateAsync(name, claims))
            {
                // Taken: an orphan of a write that never completed, or another activation's. Deleted
                // only after this state's write succeeds, which proves it an orphan.
                state.RetiredSegments.Add(name);
                name = ClaimSegmentStore.NewName();
                if (!await _segments.TryCreateAsync(name, claims))
                {
                    throw new InvalidOperationException($"Claim segment {name} of {this.GetGrainId()} exists already.");
                }
            }

            segment = new ClaimSegmentRef(name, newest);
            state.ClaimSegments.Add(segment);
            state.NextSegment = ClaimSegmentStore.NewName();
            state.InlineClaims = [];
        }

        try
        {
            await _state.WriteStateAsync();
        }
        catch when (segment is not null)
        {
            // The state does not list the segment: its claims stay unsegmented, and it goes.
            state.ClaimSegments.Remove(segment);
            state.RetiredSegments.Add(segment.Name);
            throw;
        }

        if (segment is not null)
        {
            _dedup.SegmentWritten(segment.Name, segment.NewestArrival, unsegmented);
        }

        await DeleteRetiredAsync(state);
    }

    /// <summary>Deletes retired segments; the list shrinks at the next write, and a delete that fails is tried again then.</summary>
    private async Task DeleteRetiredAsync(SourceGroupState state)
    {
        foreach (var name in state.RetiredSegments.ToList())
        {
            try
            {
                await _segments.DeleteAsync(name);
                state.RetiredSegments.Remove(name);
            }
            catch (Exception exception)
            {
                LogSegmentDeleteFailed(exception, this.GetGrainId(), name);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Source group {Grain}: claim segment {Segment} is listed but missing; ids it held are no longer recognised as duplicates")]
    private partial void LogSegmentMissing(GrainId grain, string segment);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source group {Grain}: deleting claim segment {Segment} failed; it is tried again at the next write")]
    private partial void LogSegmentDeleteFailed(Exception exception, GrainId grain, string segment);
}
