using Analytics.Runtime;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.Logging;

namespace Analytics.Grains.Streaming;

/// <summary>
/// What the source and metric grains share as stream consumers: they write their state at most
/// every FlushInterval (a timer), at every stream checkpoint and on deactivation, never per event;
/// and they answer a checkpoint with false, without writing, when their watermark is behind what
/// the agent delivered (they lost effects, so the agent must replay).
/// </summary>
public abstract partial class FlushingConsumerGrain(TimeSpan flushInterval, TimeProvider time, ILogger logger) : Grain
{
    private long _lastWrite;

    /// <summary>Set when an applied delivery changed the state; cleared after a successful write.</summary>
    protected bool Dirty { get; set; }

    protected TimeProvider Time => time;

    protected long NowMs => time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The watermarks kept in the grain's persisted state.</summary>
    protected abstract StreamWatermarks Watermarks { get; }

    /// <summary>Writes the state in the grain's storage layout; called only when dirty.</summary>
    protected abstract Task WriteAsync();

    /// <summary>Work that may make the state dirty just before a flush (the metric grain's catalog entry).</summary>
    protected virtual Task BeforeFlushAsync() => Task.CompletedTask;

    /// <summary>Call from OnActivateAsync.</summary>
    protected void StartFlushTimer()
    {
        _lastWrite = time.GetTimestamp();
        RegisterGrainTimer(OnTimerAsync, flushInterval, flushInterval);
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
            LogFlushFailed(exception, GrainId);
        }
    }

    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        if (!Dirty || time.GetElapsedTime(_lastWrite) < flushInterval)
        {
            return;
        }

        try
        {
            await FlushAsync();
        }
        catch (Exception exception)
        {
            LogFlushFailed(exception, GrainId);
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
        _lastWrite = time.GetTimestamp();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grain {Grain}: writing state failed; it is retried at the next flush or replayed from the stream")]
    private partial void LogFlushFailed(Exception exception, GrainId grain);
}
