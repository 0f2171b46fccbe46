using Analytics.Runtime.Invocation;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Streaming;

/// <summary>
/// Reads one queue in order and delivers its items to the implicitly subscribed grains, one batch
/// at a time. Every CheckpointInterval it asks each grain it delivered to to make its effects
/// durable, and only then moves the queue's checkpoint. Grains drop what they applied before by
/// their watermarks, so a restart (which replays from the checkpoint) counts nothing twice; a
/// grain that reports a gap (it lost unflushed effects) makes the agent replay from the checkpoint.
/// </summary>
internal sealed partial class PullingAgent(
    QueueId queue,
    StreamProviderRuntime provider,
    IStreamCheckpointer checkpointer,
    GrainReferenceFactory references,
    ILogger logger)
{
    private readonly StreamPullingOptions _options = provider.Options;
    private readonly Dictionary<GrainId, StreamSequenceToken> _deliveredSinceCheckpoint = [];
    private readonly List<StreamItem> _items = [];
    private IQueueAdapterReceiver? _receiver;
    private StreamSequenceToken? _committed;
    private StreamSequenceToken? _lastDelivered;
    private long _lastCheckpoint;
    private volatile bool _killed;
    private volatile bool _leaseLost;

    public QueueId Queue => queue;

    public QueueAgentStatistics Statistics { get; } = new();

    /// <summary>True once a closed queue was delivered and checkpointed to its end, and the end recorded.</summary>
    public bool ReachedEnd { get; private set; }

    /// <summary>Simulates a crash (test clusters), or stops an agent whose lease was taken: no flush, no checkpoint.</summary>
    public void Kill() => _killed = true;

    public async Task RunAsync(CancellationToken stopping)
    {
        var time = provider.TimeProvider;
        _committed = await checkpointer.LoadAsync(queue, CancellationToken.None);
        _lastDelivered = _committed;
        _receiver = provider.Adapter.CreateReceiver(queue);
        await _receiver.InitializeAsync(_committed, CancellationToken.None);
        _lastCheckpoint = time.GetTimestamp();
        LogStarted(queue, _committed?.ToString() ?? "the beginning");
        try
        {
            while (!stopping.IsCancellationRequested && !_leaseLost)
            {
                IReadOnlyList<QueueRecord> records;
                try
                {
                    records = await _receiver.GetMessagesAsync(_options.BatchSize, stopping);
                    Statistics.Lag = _receiver.Lag;
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception exception)
                {
                    LogReadFailed(exception, queue);
                    await DelayAsync(_options.PollInterval * 10, stopping);
                    continue;
                }

                if (_killed)
                {
                    return;
                }

                if (records.Count > 0 && !await DeliverBatchAsync(records, stopping))
                {
                    await RewindAsync(stopping.IsCancellationRequested ? "stopping mid-batch" : "a grain lost effects it had not flushed");
                    continue;
                }

                if (time.GetElapsedTime(_lastCheckpoint) >= _options.CheckpointInterval && !await CheckpointAsync() && !_leaseLost)
                {
                    await RewindAsync("a grain failed to flush at the checkpoint");
                    continue;
                }

                if (records.Count == 0)
                {
                    if (_receiver.IsAtEnd)
                    {
                        break;
                    }

                    await DelayAsync(_options.PollInterval, stopping);
                }
            }

            // Graceful stop: leave a checkpoint for whoever reads the queue next. At the end of a
            // closed queue, record the end too, so that the queues continuing it may start.
            if (!_killed && !_leaseLost && await CheckpointAsync() && _receiver.IsAtEnd)
            {
                ReachedEnd = await SaveEndAsync();
            }

            LogStopped(queue, _committed?.ToString() ?? "none");
        }
        finally
        {
            await _receiver.DisposeAsync();
        }
    }

    /// <summary>Decodes a batch, groups it per grain, and delivers. False when a grain reported a gap.</summary>
    private async Task<bool> DeliverBatchAsync(IReadOnlyList<QueueRecord> records, CancellationToken stopping)
    {
        _items.Clear();
        foreach (var record in records)
        {
            // A decoder may keep the valid items of a partly invalid record; the record itself
            // still goes to the dead-letter store with the reason.
            if (provider.Decoder.Decode(record, _items) is { } error)
            {
                Statistics.PoisonRecords++;
                await provider.DeadLetters.AddAsync(new DeadLetter(queue.ToString(), record.Token.ToString(), error, provider.TimeProvider.GetUtcNow(), record.Data.ToArray()), CancellationToken.None);
                LogPoisonRecord(queue, record.Token.ToString(), error);
            }
        }

        HashSet<StreamSequenceToken>? dropped = null;
        var grainCalls = 0;
        foreach (var order in provider.Subscriptions.Orders)
        {
            var groups = DeliveryGroup.Plan(_items, provider.Subscriptions, order, dropped);
            var deliveries = new Task<DeliveryOutcome>[groups.Count];
            var i = 0;
            foreach (var group in groups.Values)
            {
                var target = new GrainId(group.Subscription.GrainType, group.GrainKey);
                StreamSequenceToken? previous = _deliveredSinceCheckpoint.TryGetValue(target, out var p) ? p : null;
                deliveries[i++] = DeliverAsync(target, group, previous, records, stopping);
            }

            var outcomes = await Task.WhenAll(deliveries);
            if (outcomes.Any(o => o.Status == DeliveryStatus.Gap))
            {
                return false;
            }

            foreach (var outcome in outcomes)
            {
                if (outcome.Dropped is { Count: > 0 } tokens)
                {
                    (dropped ??= []).UnionWith(tokens);
                }
            }

            foreach (var group in groups.Values)
            {
                _deliveredSinceCheckpoint[new GrainId(group.Subscription.GrainType, group.GrainKey)] = group.Items[^1].Token;
            }

            grainCalls += groups.Count;
        }

        _lastDelivered = records[^1].Token;
        Statistics.Records += records.Count;
        Statistics.Items += _items.Count;
        Statistics.Batches++;
        Statistics.GrainCalls += grainCalls;
        Statistics.Dropped += dropped?.Count ?? 0;
        Statistics.LastDelivered = _lastDelivered;
        return true;
    }

    private async Task<DeliveryOutcome> DeliverAsync(GrainId target, DeliveryGroup group, StreamSequenceToken? previous, IReadOnlyList<QueueRecord> records, CancellationToken stopping)
    {
        var consumer = references.Create<IStreamConsumer>(target);
        IReadOnlyList<StreamItem> remaining = group.Items;
        List<StreamSequenceToken>? dropped = null;
        var failures = 0;
        while (true)
        {
            DeliveryOutcome outcome;
            try
            {
                outcome = await consumer.OnNextAsync(group.Build(queue.ToString(), remaining, previous));
            }
            catch (Exception) when (stopping.IsCancellationRequested || _killed)
            {
                // Stopping: this batch counts as not delivered, so no checkpoint passes it and
                // whoever reads the queue next replays it (grains skip what they applied).
                return new DeliveryOutcome(DeliveryStatus.Gap);
            }
            catch (Exception exception) when (IsTransient(exception))
            {
                // The grain's silo is gone or busy: placement will find it a new home; keep trying.
                LogDeliveryRetry(exception, target, queue);
                await DelayAsync(Backoff(++failures), CancellationToken.None);
                continue;
            }
            catch (Exception exception)
            {
                if (++failures < _options.MaxDeliveryAttempts)
                {
                    LogDeliveryRetry(exception, target, queue);
                    await DelayAsync(Backoff(failures), CancellationToken.None);
                    continue;
                }

                // The grain keeps throwing on this data: keep the records aside rather than block the queue.
                await DeadLetterAsync(remaining, records, $"delivery to grain {target} failed {failures} times: {exception.GetType().Name}: {exception.Message}");
                return new DeliveryOutcome(DeliveryStatus.Applied, Dropped: remaining.Select(i => i.Token).ToList());
            }

            if (outcome.Dropped is { Count: > 0 })
            {
                (dropped ??= []).AddRange(outcome.Dropped);
            }

            switch (outcome.Status)
            {
                case DeliveryStatus.ResendAfter when outcome.Watermark is { } watermark:
                    remaining = remaining.Where(item => item.Token > watermark).ToList();
                    if (remaining.Count == 0)
                    {
                        return new DeliveryOutcome(DeliveryStatus.AlreadyApplied, Dropped: dropped);
                    }

                    continue;
                case DeliveryStatus.Gap:
                    LogGap(target, queue, outcome.Watermark?.ToString() ?? "none", previous?.ToString() ?? "none");
                    return outcome;
                default:
                    return outcome with { Dropped = dropped };
            }
        }
    }

    private async Task DeadLetterAsync(IReadOnlyList<StreamItem> items, IReadOnlyList<QueueRecord> records, string reason)
    {
        var sequences = items.Select(i => i.Token.Sequence).ToHashSet(StringComparer.Ordinal);
        foreach (var record in records.Where(r => sequences.Contains(r.Token.Sequence)))
        {
            Statistics.PoisonRecords++;
            await provider.DeadLetters.AddAsync(new DeadLetter(queue.ToString(), record.Token.ToString(), reason, provider.TimeProvider.GetUtcNow(), record.Data.ToArray()), CancellationToken.None);
        }

        LogDeadLettered(queue, reason);
    }

    /// <summary>Flushes every grain delivered to since the last checkpoint, then saves the checkpoint.</summary>
    private async Task<bool> CheckpointAsync()
    {
        _lastCheckpoint = provider.TimeProvider.GetTimestamp();
        if (_lastDelivered is not { } last || _lastDelivered == _committed)
        {
            return true;
        }

        try
        {
            var flushed = await Task.WhenAll(_deliveredSinceCheckpoint.Select(delivered =>
                references.Create<IStreamConsumer>(delivered.Key).OnCheckpointAsync(new StreamCheckpointRequest(queue.ToString(), delivered.Value))));
            if (flushed.Contains(false))
            {
                return false;
            }

            await checkpointer.SaveAsync(queue, last, CancellationToken.None);
        }
        catch (QueueLeaseLostException exception)
        {
            // Another silo reads this queue now; it replays from the last checkpoint it can see.
            LogLeaseLost(queue, exception.Message);
            _leaseLost = true;
            return false;
        }
        catch (Exception exception)
        {
            LogCheckpointFailed(exception, queue);
            return false;
        }

        _committed = last;
        _deliveredSinceCheckpoint.Clear();
        Statistics.Checkpoints++;
        Statistics.Committed = last;
        return true;
    }

    private async Task<bool> SaveEndAsync()
    {
        try
        {
            await checkpointer.SaveEndAsync(queue, CancellationToken.None);
            LogQueueEnded(queue);
            return true;
        }
        catch (Exception exception)
        {
            LogCheckpointFailed(exception, queue);
            return false;
        }
    }

    private async Task RewindAsync(string reason)
    {
        LogRewind(queue, _committed?.ToString() ?? "the beginning", reason);
        Statistics.Rewinds++;
        _deliveredSinceCheckpoint.Clear();
        _lastDelivered = _committed;
        await _receiver!.InitializeAsync(_committed, CancellationToken.None);
    }

    private static bool IsTransient(Exception exception) =>
        exception is SiloUnavailableException or GrainCallTimeoutException or Persistence.InconsistentStateException;

    private static TimeSpan Backoff(int failures) => TimeSpan.FromMilliseconds(Math.Min(5000, 50 * Math.Pow(2, Math.Min(failures, 10))));

    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, provider.TimeProvider, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pulling agent for {Queue} started after {Checkpoint}")]
    private partial void LogStarted(QueueId queue, string checkpoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pulling agent for {Queue} stopped at checkpoint {Checkpoint}")]
    private partial void LogStopped(QueueId queue, string checkpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading {Queue} failed; retrying")]
    private partial void LogReadFailed(Exception exception, QueueId queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Poison record in {Queue} at {Sequence}: {Reason}")]
    private partial void LogPoisonRecord(QueueId queue, string sequence, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery to {Grain} from {Queue} failed; retrying")]
    private partial void LogDeliveryRetry(Exception exception, GrainId grain, QueueId queue);

    [LoggerMessage(Level = LogLevel.Error, Message = "Records of {Queue} went to the dead-letter store: {Reason}")]
    private partial void LogDeadLettered(QueueId queue, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grain {Grain} reported a gap on {Queue} (watermark {Watermark}, previously sent {Previous})")]
    private partial void LogGap(GrainId grain, QueueId queue, string watermark, string previous);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkpoint of {Queue} failed")]
    private partial void LogCheckpointFailed(Exception exception, QueueId queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pulling agent for {Queue} stops: its lease was lost ({Reason})")]
    private partial void LogLeaseLost(QueueId queue, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Queue} is read and checkpointed to its end")]
    private partial void LogQueueEnded(QueueId queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replaying {Queue} from checkpoint {Checkpoint}: {Reason}")]
    private partial void LogRewind(QueueId queue, string checkpoint, string reason);
}

/// <summary>Counters of one agent, read by the cluster API and the dashboard.</summary>
public sealed class QueueAgentStatistics
{
    public long Records { get; internal set; }

    public long Items { get; internal set; }

    public long Batches { get; internal set; }

    public long GrainCalls { get; internal set; }

    public long Checkpoints { get; internal set; }

    public long Rewinds { get; internal set; }

    public long PoisonRecords { get; internal set; }

    /// <summary>Items dropped by an earlier subscription order (duplicates).</summary>
    public long Dropped { get; internal set; }

    public StreamSequenceToken? LastDelivered { get; internal set; }

    public StreamSequenceToken? Committed { get; internal set; }

    public TimeSpan? Lag { get; internal set; }
}
