using Microsoft.Extensions.Logging;

namespace Analytics.Streaming;

/// <summary>The checkpoint and the rewind: the exactly-once heart of the receiver.</summary>
public sealed partial class CheckpointingQueueReceiver
{
    internal enum CheckpointKind
    {
        /// <summary>Nothing new since the last checkpoint.</summary>
        Nothing,

        Saved,

        /// <summary>Every consumer flushed but the save failed: try again at the next interval.</summary>
        SaveFailed,

        /// <summary>A consumer lost effects, or deliveries stayed in flight too long: replay from the checkpoint.</summary>
        Replay,

        /// <summary>Another silo owns the queue now.</summary>
        LeaseLost,
    }

    internal readonly record struct CheckpointResult(CheckpointKind Kind, string? Reason = null);

    /// <summary>
    /// A checkpoint that runs while the receiver reads on: the position it covers, whom it asks,
    /// and the wait before it asks (<see cref="QueueStreamOptions.CheckpointSettle"/>), which a
    /// checkpoint that must finish now cuts short.
    /// </summary>
    private sealed record RunningCheckpoint(QueuePosition Position, List<(IQueueCheckpointParticipant Participant, QueueCheckpointRequest Request)> Requests, Task<CheckpointResult> Result, CancellationTokenSource Settle)
    {
        public Task<CheckpointResult> FinishNow()
        {
            Settle.Cancel();
            return Result;
        }
    }

    private RunningCheckpoint? _running;

    /// <summary>
    /// Applies a checkpoint that has finished and starts the next when one is due. It runs beside
    /// the reads, so a slow consumer write delays the checkpoint, never the events: what the
    /// consumers confirm covers everything up to the position taken when it started, and what is
    /// delivered meanwhile waits for the next one. False when the receiver must not read on now.
    /// </summary>
    private async Task<bool> CheckpointInBackgroundAsync(CancellationToken cancellationToken)
    {
        if (_running is { Result.IsCompleted: true } && !await ApplyRunningAsync(rewindOnReplay: true, cancellationToken))
        {
            return false;
        }

        if (_running is null && _time.GetElapsedTime(_lastCheckpoint) >= Options.CheckpointInterval)
        {
            StartCheckpoint(Options.PendingCheckpointTimeout, Options.CheckpointSettle);
        }

        return true;
    }

    /// <summary>Waits for a running checkpoint, then takes one of everything read so far and waits for it too (at a queue's end and at a graceful stop).</summary>
    internal async Task<CheckpointResult> CheckpointNowAsync(TimeSpan pendingTimeout, CancellationToken cancellationToken)
    {
        if (_running is not null)
        {
            await ApplyRunningAsync(rewindOnReplay: false, cancellationToken);
        }

        StartCheckpoint(pendingTimeout, TimeSpan.Zero);
        if (_running is not { } running)
        {
            return new CheckpointResult(CheckpointKind.Nothing);
        }

        var result = await running.Result;
        await ApplyRunningAsync(rewindOnReplay: false, cancellationToken);
        return result;
    }

    private void StartCheckpoint(TimeSpan pendingTimeout, TimeSpan settle)
    {
        _lastCheckpoint = _time.GetTimestamp();
        if (_lastRead is not { } position || _lastRead == _committed)
        {
            return;
        }

        var requests = Tracker.CheckpointRequests(Queue);
        var settling = new CancellationTokenSource();
        // Off the pulling agent's scheduler: the reads go on while the consumers write.
        _running = new RunningCheckpoint(position, requests, Task.Run(() => CheckpointAsync(position, requests, pendingTimeout, settle, settling.Token)), settling);
    }

    /// <summary>Applies the running checkpoint's result once it is there; false when the receiver rewound or stopped.</summary>
    private async Task<bool> ApplyRunningAsync(bool rewindOnReplay, CancellationToken cancellationToken)
    {
        var running = _running!;
        var result = await running.FinishNow();
        _running = null;
        running.Settle.Dispose();
        switch (result.Kind)
        {
            case CheckpointKind.Saved:
                _committed = running.Position;
                _rewindsSinceCheckpoint = 0;
                Tracker.Checkpointed(running.Requests);
                _pages.Committed(running.Position);
                Statistics.AddCheckpoint();
                Statistics.SetCommitted(running.Position);
                return true;
            case CheckpointKind.Replay when rewindOnReplay:
                await RewindAsync(result.Reason!, cancellationToken);
                return false;
            case CheckpointKind.LeaseLost:
                _finished = true;
                Statistics.Active = false;
                return false;
            default:
                return true;
        }
    }

    /// <summary>
    /// Asks every consumer delivered to up to <paramref name="position"/> to confirm, durably, that
    /// it holds everything it was sent; waits (bounded) for stream deliveries still in flight; and
    /// only then saves the position. It changes nothing in the receiver: the caller applies the result.
    /// </summary>
    private async Task<CheckpointResult> CheckpointAsync(QueuePosition position, List<(IQueueCheckpointParticipant Participant, QueueCheckpointRequest Request)> requests, TimeSpan pendingTimeout, TimeSpan settle, CancellationToken settling)
    {
        if (settle > TimeSpan.Zero && requests.Count > 0)
        {
            try
            {
                await Task.Delay(settle, _time, settling);
            }
            catch (OperationCanceledException)
            {
                // Cut short: the receiver needs the result now.
            }
        }

        var cancellationToken = CancellationToken.None;
        var started = _time.GetTimestamp();
        while (requests.Count > 0)
        {
            var answers = await Task.WhenAll(requests.Select(r => AskAsync(r.Participant, r.Request)));
            if (answers.FirstOrDefault(a => a.Answer == CheckpointAnswer.Gap) is { Participant: not null } gap)
            {
                return new CheckpointResult(CheckpointKind.Replay, $"{gap.Participant.GetGrainId()} lost effects it had not flushed");
            }

            requests = requests.Where((_, i) => answers[i].Answer == CheckpointAnswer.Pending).ToList();
            if (requests.Count == 0)
            {
                break;
            }

            if (_time.GetElapsedTime(started) >= pendingTimeout)
            {
                return new CheckpointResult(CheckpointKind.Replay, $"{requests.Count} consumers did not receive what was published to them within {pendingTimeout} (first: {requests[0].Participant.GetGrainId()})");
            }

            await Task.Delay(Options.PendingRetryDelay, _time, cancellationToken);
        }

        try
        {
            await _checkpointer.SaveAsync(Queue, position, cancellationToken);
        }
        catch (QueueLeaseLostException exception)
        {
            // Another silo reads this queue now; it replays from the last checkpoint it can see.
            LogLeaseLost(Queue, exception.Message);
            return new CheckpointResult(CheckpointKind.LeaseLost, exception.Message);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogCheckpointFailed(exception, Queue);
            return new CheckpointResult(CheckpointKind.SaveFailed, exception.Message);
        }

        return new CheckpointResult(CheckpointKind.Saved);
    }

    /// <summary>Asks one consumer; a consumer that cannot answer (its silo died, its write failed) may have lost effects.</summary>
    private async Task<(IQueueCheckpointParticipant? Participant, CheckpointAnswer Answer)> AskAsync(IQueueCheckpointParticipant participant, QueueCheckpointRequest request)
    {
        try
        {
            return (participant, await participant.OnCheckpointAsync(request));
        }
        catch (Exception exception)
        {
            LogParticipantFailed(exception, participant.GetGrainId(), Queue);
            return (participant, CheckpointAnswer.Gap);
        }
    }

    /// <summary>
    /// Replays from the checkpoint: a new epoch (so Orleans sees newer tokens), the reader back at
    /// the checkpoint, nothing tracked, nothing unpublished kept. The first replay after a
    /// checkpoint cuts its pages where this receiver cut them before, which is fast and enough
    /// when every consumer's watermark comes from this receiver. A second one before the
    /// checkpoint moves means a watermark comes from pages cut elsewhere (another silo, an earlier
    /// process): it hands out one record per page up to the furthest position ever read, which
    /// straddles no watermark, so it converges.
    /// </summary>
    private async Task RewindAsync(string reason, CancellationToken cancellationToken)
    {
        if (_running is not null)
        {
            // What it confirmed stays confirmed: the replay may start after it.
            await ApplyRunningAsync(rewindOnReplay: false, cancellationToken);
        }

        _rewindRequested = false;
        _rewindsSinceCheckpoint++;
        var singleRecordsUntil = _rewindsSinceCheckpoint >= 2 ? _highWater : null;
        _epoch++;
        _outbox.Clear();
        Tracker.Clear();
        _lastRead = _committed;
        Statistics.AddRewind();
        LogRewind(Queue, _committed?.ToString() ?? "the beginning", _epoch, singleRecordsUntil?.ToString() ?? "none", reason);
        try
        {
            await _pages.StartAsync(_committed, cancellationToken, singleRecordsUntil);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Read again from the checkpoint once the reader can: initialize from scratch next call.
            LogInitializeFailed(exception, Queue);
            _initialized = false;
        }
    }

    /// <summary>A closed queue was read, delivered and checkpointed to its end: record the end so that the queues continuing it may start.</summary>
    private async Task FinishAsync(CancellationToken cancellationToken)
    {
        if (_lastRead != _committed)
        {
            return;
        }

        try
        {
            await _checkpointer.SaveEndAsync(Queue, cancellationToken);
            _finished = true;
            Statistics.Active = false;
            LogQueueEnded(Queue);
        }
        catch (QueueLeaseLostException exception)
        {
            LogLeaseLost(Queue, exception.Message);
            _finished = true;
            Statistics.Active = false;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogCheckpointFailed(exception, Queue);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkpoint of {Queue} failed")]
    private partial void LogCheckpointFailed(Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} could not answer the checkpoint of {Queue}")]
    private partial void LogParticipantFailed(Exception exception, GrainId consumer, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Receiver of {Queue} stops: its lease was lost ({Reason})")]
    private partial void LogLeaseLost(string queue, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Queue} is read and checkpointed to its end")]
    private partial void LogQueueEnded(string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replaying {Queue} from checkpoint {Checkpoint} (epoch {Epoch}, one record per page up to {SingleRecordsUntil}): {Reason}")]
    private partial void LogRewind(string queue, string checkpoint, int epoch, string singleRecordsUntil, string reason);
}
