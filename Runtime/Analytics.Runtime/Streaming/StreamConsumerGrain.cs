using Analytics.Runtime.Persistence;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Streaming;

/// <summary>
/// A base for grains with implicit stream subscriptions that keeps the exactly-once protocol's
/// bookkeeping in one place:
/// - <see cref="ApplyOnce"/> checks a delivery against the watermarks in the grain's state,
///   applies it once, advances the watermark and marks the state dirty;
/// - a checkpoint is answered with false, without writing, when the watermark is behind what the
///   agent delivered (the grain lost effects, so the agent must replay), and otherwise with a write;
/// - the state is written at checkpoints, on deactivation and, when a flush interval is given,
///   at most that often from a timer; never per event;
/// - a stale-ETag write drops the activation, so a fresh one reloads.
/// </summary>
public abstract partial class StreamConsumerGrain(TimeSpan? flushInterval = null, TimeProvider? time = null) : Grain
{
    private TimeProvider? _time = time;
    private ILogger? _logger;
    private long _lastWrite;

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

    /// <summary>For consumers with nothing to report but the outcome: apply the delivery if it is new.</summary>
    protected DeliveryOutcome ApplyOnce(StreamDelivery delivery, Action<StreamDelivery> apply)
    {
        var outcome = Watermarks.Check(delivery);
        if (outcome.Status == DeliveryStatus.Applied)
        {
            apply(delivery);
            Watermarks.Advance(delivery);
            Dirty = true;
        }

        return outcome;
    }

    /// <summary>Call from OnActivateAsync to write dirty state at most every flush interval.</summary>
    protected void StartFlushTimer()
    {
        if (flushInterval is { } interval)
        {
            _lastWrite = Time.GetTimestamp();
            RegisterGrainTimer(OnTimerAsync, interval, interval);
        }
    }

    public async Task<bool> OnCheckpointAsync(StreamCheckpointRequest request)
    {
        if (!Watermarks.Covers(request))
        {
            return false;
        }

        await FlushAsync();
        return true;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try
        {
            await FlushAsync();
        }
        catch (Exception exception)
        {
            // Nothing is lost: the stream checkpoint has not passed what was not written, so it is replayed.
            LogFlushFailed(Logger, exception, GrainId);
        }
    }

    private ILogger Logger => _logger ??= ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger(GetType());

    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        if (!Dirty || Time.GetElapsedTime(_lastWrite) < flushInterval)
        {
            return;
        }

        try
        {
            await FlushAsync();
        }
        catch (Exception exception)
        {
            LogFlushFailed(Logger, exception, GrainId);
        }
    }

    protected async Task FlushAsync()
    {
        await BeforeFlushAsync();
        if (!Dirty)
        {
            return;
        }

        try
        {
            await WriteAsync();
        }
        catch (InconsistentStateException)
        {
            // Another activation wrote this grain's state: this one is stale. Drop it; the next
            // delivery activates a fresh copy, whose older watermark makes the agent replay.
            DeactivateOnIdle();
            throw;
        }

        Dirty = false;
        _lastWrite = Time.GetTimestamp();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grain {Grain}: writing state failed; it is retried at the next flush or replayed from the stream")]
    private static partial void LogFlushFailed(ILogger logger, Exception exception, GrainId grain);
}
