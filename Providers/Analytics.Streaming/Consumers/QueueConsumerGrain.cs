using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Analytics.Streaming;

/// <summary>
/// A base for consumer grains that keeps the exactly-once bookkeeping in one place, for the
/// grains called directly by a receiver and for those fed by Orleans streams alike:
/// - <see cref="ApplyOnceAsync{T}"/> checks a delivery against the watermarks in the grain's state,
///   applies it once, advances the watermark and marks the state dirty; a stream delivery that
///   straddles the watermark cannot be split here, so it counts as a gap (the receiver's replay
///   then cuts its pages so that none straddles);
/// - a checkpoint is answered <see cref="CheckpointAnswer.Gap"/>, without writing, when the grain
///   lost effects (its watermark is behind what it was sent), <see cref="CheckpointAnswer.Pending"/>
///   while a stream delivery is still in flight, and otherwise with a write;
/// - the state is written at checkpoints, on deactivation and, when a flush interval is given,
///   at most that often from a timer; never per event;
/// - a stale-ETag write drops the activation, so a fresh one reloads;
/// - so does a stale activation found before it acts (see <see cref="IsStaleAsync{T}"/>): Orleans'
///   default grain directory may briefly keep two activations of one grain after a silo dies, and
///   the one that loaded older state must not answer for the grain.
/// </summary>
public abstract partial class QueueConsumerGrain(TimeSpan? flushInterval = null, TimeProvider? time = null) : Grain, IQueueCheckpointParticipant
{
    /// <summary>
    /// A delivery from a receiver that knows nothing of this grain is checked by a write when the
    /// activation last read or wrote its state longer ago than this. A receiver starts only after
    /// its queue's previous owner stopped or was declared dead, which takes seconds, so a state
    /// read more recently than this cannot have been overtaken by that owner's consumers.
    /// </summary>
    protected static readonly TimeSpan StateCheckAge = TimeSpan.FromMilliseconds(500);

    private readonly HashSet<string> _gaps = new(StringComparer.Ordinal);
    private StreamWatermarks _durable = new();
    private TimeProvider? _time = time;
    private ILogger? _logger;
    private long _lastWrite;
    private long _lastStateSync = (time ?? TimeProvider.System).GetTimestamp();
    private bool _stale;

    /// <summary>Set when an applied delivery changed the state; cleared after a successful write.</summary>
    protected bool Dirty { get; set; }

    protected TimeProvider Time => _time ??= ServiceProvider.GetRequiredService<TimeProvider>();

    protected long NowMs => Time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The watermarks kept in the grain's persisted state.</summary>
    protected abstract StreamWatermarks Watermarks { get; }

    /// <summary>Writes the state in the grain's storage layout; called only when dirty.</summary>
    protected abstract Task WriteAsync();

    /// <summary>Work that may make the state dirty just before a flush.</summary>
    protected virtual Task BeforeFlushAsync() => Task.CompletedTask;

    /// <summary>
    /// Applies a delivery if it is new and this activation is not stale. A gap (effects lost since the last checkpoint) is
    /// remembered, and nothing more from that queue is applied until the receiver has replayed
    /// from its checkpoint (a delivery without a Previous position starts over).
    /// </summary>
    protected async Task<DeliveryOutcome> ApplyOnceAsync<T>(QueueDelivery<T> delivery, Action<QueueDelivery<T>> apply)
    {
        if (await IsStaleAsync(delivery))
        {
            return new DeliveryOutcome(DeliveryStatus.Gap, Watermarks.Get(delivery.Queue));
        }

        if (delivery.Previous is null)
        {
            _gaps.Remove(delivery.Queue);
        }
        else if (_gaps.Contains(delivery.Queue))
        {
            return new DeliveryOutcome(DeliveryStatus.Gap, Watermarks.Get(delivery.Queue));
        }

        var outcome = Watermarks.Check(delivery);
        switch (outcome.Status)
        {
            case DeliveryStatus.Applied:
                apply(delivery);
                Watermarks.Advance(delivery);
                Dirty = true;
                break;
            case DeliveryStatus.Gap:
                _gaps.Add(delivery.Queue);
                LogGap(Logger, this.GetGrainId(), delivery.Queue, outcome.Watermark?.ToString() ?? "none", delivery.Previous?.ToString() ?? "none");
                break;
            case DeliveryStatus.ResendAfter when delivery.Positions is null:
                // A combined payload (a stream delivery) that straddles the watermark: part of it
                // was applied before, so it can be neither applied nor skipped, and nobody can
                // resend the rest. Report a gap: the receiver replays with pages that do not
                // straddle it (see CheckpointingQueueReceiver's rewind).
                _gaps.Add(delivery.Queue);
                LogStraddle(Logger, this.GetGrainId(), delivery.Queue, outcome.Watermark?.ToString() ?? "none", delivery.First.ToString(), delivery.Last.ToString());
                return outcome with { Status = DeliveryStatus.Gap };
        }

        return outcome;
    }

    /// <summary>
    /// Call from OnActivateAsync to write dirty state about every flush interval: the timer looks
    /// four times an interval, so a dirty grain writes between one and 1.25 intervals after its
    /// last write, and a receiver that waits that long before it asks (its CheckpointSettle)
    /// finds what it asks for written.
    /// </summary>
    protected void StartFlushTimer()
    {
        if (flushInterval is { } interval)
        {
            _lastWrite = Time.GetTimestamp();
            var tick = interval / 4;
            this.RegisterGrainTimer(OnTimerAsync, tick, tick);
        }
    }

    /// <summary>
    /// True when this activation must not act on the delivery: its state is older than what the
    /// grain already made durable, so another activation wrote since this one loaded. It is then
    /// dropped (a fresh one reloads), and the caller answers Gap so that the receiver replays.
    /// </summary>
    /// <remarks>
    /// The receiver says what the grain last confirmed at one of its checkpoints; a watermark
    /// behind that is proof. A receiver that has no confirmation (it has just taken the queue over)
    /// cannot say, so an activation that has not touched storage lately proves itself current by
    /// a conditional write, which fails if another activation wrote in between. That costs one
    /// write per grain per queue handover, and nothing in steady state.
    /// </remarks>
    protected async Task<bool> IsStaleAsync<T>(QueueDelivery<T> delivery)
    {
        if (_stale)
        {
            return true;
        }

        if (Watermarks.IsBehind(delivery.Queue, delivery.Confirmed))
        {
            MarkStale(delivery.Queue, BehindReason(delivery.Queue, delivery.Confirmed));
            return true;
        }

        if (delivery.Confirmed is not null || delivery.Previous is not null || Time.GetElapsedTime(_lastStateSync) < StateCheckAge)
        {
            return false;
        }

        try
        {
            Dirty = true;
            await FlushAsync();
            return false;
        }
        catch (InconsistentStateException)
        {
            MarkStale(delivery.Queue, "another activation wrote its state");
            return true;
        }
        catch (Exception exception)
        {
            // The state could not be proven current; the receiver retries after a replay.
            LogFlushFailed(Logger, exception, this.GetGrainId());
            return true;
        }
    }

    public async Task<CheckpointAnswer> OnCheckpointAsync(QueueCheckpointRequest request)
    {
        if (_stale || Watermarks.IsBehind(request.Queue, request.Confirmed))
        {
            MarkStale(request.Queue, BehindReason(request.Queue, request.Confirmed));
            return CheckpointAnswer.Gap;
        }

        if (_gaps.Contains(request.Queue))
        {
            return CheckpointAnswer.Gap;
        }

        if (!Watermarks.Covers(request))
        {
            // A direct consumer's deliveries are awaited by the receiver before it asks, so one that
            // is behind lost them (its silo died); only a stream delivery can still be in flight.
            return IsDirectConsumer(GetType()) ? CheckpointAnswer.Gap : CheckpointAnswer.Pending;
        }

        // A write since the receiver took its position (its flush timer, or another queue's
        // checkpoint) may already hold it: then confirm without writing again.
        if (!_durable.Covers(request))
        {
            await FlushAsync();
        }

        return CheckpointAnswer.Flushed;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_stale)
        {
            return;
        }

        try
        {
            await FlushAsync();
        }
        catch (Exception exception)
        {
            // Nothing is lost: the queue's checkpoint has not passed what was not written, so it is replayed.
            LogFlushFailed(Logger, exception, this.GetGrainId());
        }
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, bool> DirectConsumerTypes = new();

    private static bool IsDirectConsumer(Type type) => DirectConsumerTypes.GetOrAdd(type, static t =>
        t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IQueueConsumer<>)));

    private ILogger Logger => _logger ??= ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(GetType());

    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        if (_stale || !Dirty || Time.GetElapsedTime(_lastWrite) < flushInterval)
        {
            return;
        }

        try
        {
            await FlushAsync();
        }
        catch (Exception exception)
        {
            LogFlushFailed(Logger, exception, this.GetGrainId());
        }
    }

    protected async Task FlushAsync()
    {
        await BeforeFlushAsync();
        if (!Dirty)
        {
            return;
        }

        // The watermarks as written: the grain is not reentrant, so only read-only queries run during the write.
        var written = new StreamWatermarks { Applied = new(Watermarks.Applied, StringComparer.Ordinal) };
        try
        {
            await WriteAsync();
        }
        catch (InconsistentStateException)
        {
            // Another activation wrote this grain's state: this one is stale. Drop it; the next
            // delivery activates a fresh copy, whose older watermark makes the receiver replay.
            DeactivateOnIdle();
            throw;
        }

        Dirty = false;
        _durable = written;
        _lastWrite = _lastStateSync = Time.GetTimestamp();
    }

    private string BehindReason(string queue, QueuePosition? confirmed) =>
        $"its watermark {Watermarks.Get(queue)?.ToString() ?? "none"} is behind the confirmed {confirmed}";

    /// <summary>The one way an activation becomes stale: it stops acting and writing, and leaves.</summary>
    private void MarkStale(string queue, string reason)
    {
        if (!_stale)
        {
            _stale = true;
            LogStale(Logger, this.GetGrainId(), queue, reason);
        }

        // Its unflushed effects are void: nothing is written on the way out.
        Dirty = false;
        DeactivateOnIdle();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grain {Grain}: writing state failed; it is retried at the next flush or replayed from the stream")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception, GrainId grain);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grain {Grain}: this activation is stale for {Queue} ({Reason}); it is dropped and a fresh one reloads the state")]
    private static partial void LogStale(ILogger logger, GrainId grain, string queue, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grain {Grain}: a delivery from {Queue} ({First} to {Last}) straddles its watermark {Watermark}; it waits for a replay")]
    private static partial void LogStraddle(ILogger logger, GrainId grain, string queue, string watermark, string first, string last);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grain {Grain} lost effects from {Queue} (watermark {Watermark}, previously sent {Previous}); it waits for a replay")]
    private static partial void LogGap(ILogger logger, GrainId grain, string queue, string watermark, string previous);
}
