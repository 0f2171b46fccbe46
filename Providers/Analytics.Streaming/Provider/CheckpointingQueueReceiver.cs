using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace Analytics.Streaming;

/// <summary>
/// The shared half of every receiver of our providers (the queue-specific half is an
/// <see cref="IQueueReader"/>). Each call of <see cref="GetQueueMessagesAsync(int, CancellationToken)"/>
/// reads one page, decodes it (poison records go to the dead-letter store) and hands it to the
/// application's <see cref="IQueuePageHandler"/>, which calls direct consumers and publishes
/// <see cref="QueueBatchContainer"/>s that Orleans' pulling agent then delivers to implicit
/// subscribers. Every <see cref="QueueStreamOptions.CheckpointInterval"/>, and on a graceful
/// shutdown, it moves the queue's checkpoint, but only once every consumer delivered to since
/// the last one has made its effects durable (see <c>CheckpointingQueueReceiver.Checkpoint.cs</c>);
/// a consumer that lost effects makes it replay from the checkpoint instead.
/// </summary>
/// <remarks>
/// Orleans calls a receiver from its pulling agent one call at a time; only
/// <see cref="RequestRewind"/> (from the delivery failure handler) comes from elsewhere.
/// </remarks>
public sealed partial class CheckpointingQueueReceiver : IQueueAdapterReceiver
{
    private const int MaxPagesPerCall = 16;

    private readonly QueueId _queueId;
    private readonly QueuePageReader _pages;
    private readonly IQueueCheckpointer _checkpointer;
    private readonly IQueueRecordDecoder _decoder;
    private readonly IQueuePageHandler _handler;
    private readonly IDeadLetterStore _deadLetters;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Queue<QueueBatchContainer> _outbox = new();
    private readonly List<QueueItem> _items = [];
    private QueuePosition? _committed;
    private QueuePosition? _lastRead;
    private QueuePosition? _highWater;
    private int _rewindsSinceCheckpoint;
    private int _epoch;
    private long _ordinal;
    private long _lastCheckpoint;
    private bool _initialized;
    private bool _finished;
    private volatile bool _rewindRequested;
    private volatile bool _stopping;
    private CancellationToken _pumping;

    public CheckpointingQueueReceiver(QueueId queueId, string queue, QueueReceiverServices services, IQueueReader reader, IQueueCheckpointer checkpointer, IDeadLetterStore deadLetters)
    {
        _queueId = queueId;
        Queue = queue;
        _pages = new QueuePageReader(reader);
        _checkpointer = checkpointer;
        _decoder = services.Decoder;
        _handler = services.PageHandler;
        _deadLetters = deadLetters;
        _time = services.Time;
        _logger = services.LoggerFactory.CreateLogger<CheckpointingQueueReceiver>();
        GrainFactory = services.GrainFactory;
        Options = services.Options;
        Statistics = services.Statistics.GetOrAdd(services.ProviderName, queue);
    }

    /// <summary>The queue's name in checkpoints, watermarks and dead letters.</summary>
    public string Queue { get; }

    public QueueStatistics Statistics { get; }

    /// <summary>How many times this receiver has rewound.</summary>
    public int Epoch => _epoch;

    internal QueueStreamOptions Options { get; }

    internal IGrainFactory GrainFactory { get; }

    internal ILogger Logger => _logger;

    internal DeliveryTracker Tracker { get; } = new();

    /// <summary>Shutting down, or Orleans cancelled the current read (its pulling agent stops).</summary>
    internal bool Stopping => _stopping || _pumping.IsCancellationRequested;

    /// <summary>
    /// Called when Orleans gave up delivering a batch: replay from the checkpoint rather than
    /// lose it. A batch of an earlier epoch is covered already by the rewind that ended it.
    /// </summary>
    public void RequestRewind(StreamSequenceToken? token)
    {
        Statistics.AddDeliveryFailure();
        if (token is not QueueSequenceToken queueToken || queueToken.Epoch >= _epoch)
        {
            _rewindRequested = true;
        }
    }

    public Task Initialize(TimeSpan timeout) => TryInitializeAsync(CancellationToken.None);

    public Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount) => GetQueueMessagesAsync(maxCount, CancellationToken.None);

    public async Task<IList<IBatchContainer>> GetQueueMessagesAsync(int maxCount, CancellationToken cancellationToken)
    {
        _pumping = cancellationToken;
        try
        {
            return await ReadAsync(maxCount, cancellationToken);
        }
        finally
        {
            _pumping = CancellationToken.None;
        }
    }

    private async Task<IList<IBatchContainer>> ReadAsync(int maxCount, CancellationToken cancellationToken)
    {
        if (_finished || (!_initialized && !await TryInitializeAsync(cancellationToken)))
        {
            return [];
        }

        if (_rewindRequested)
        {
            await RewindAsync("Orleans gave up delivering a batch", cancellationToken);
            if (!_initialized)
            {
                return [];
            }
        }

        if (_outbox.Count > 0)
        {
            return TakeFromOutbox(maxCount);
        }

        if (_pages.IsAtEnd)
        {
            // A closed queue read to its end: checkpoint it there, then record the end.
            var result = await CheckpointNowAsync(Options.PendingCheckpointTimeout, cancellationToken);
            if (result.Kind == CheckpointKind.Replay)
            {
                await RewindAsync(result.Reason!, cancellationToken);
            }
            else if (!_finished)
            {
                await FinishAsync(cancellationToken);
            }

            return [];
        }

        if (!await CheckpointInBackgroundAsync(cancellationToken))
        {
            return [];
        }

        // An empty answer makes Orleans wait for its next tick, so pages that publish nothing
        // (duplicates, poison, direct consumers only) do not end the call; a few pages at most,
        // so that checkpoints stay on time.
        for (var pages = 0; pages < MaxPagesPerCall && _outbox.Count == 0; pages++)
        {
            IReadOnlyList<QueueRecord> records;
            try
            {
                records = await _pages.ReadPageAsync(Options.BatchSize, cancellationToken);
                Statistics.SetLag(_pages.Reader.Lag);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The pulling agent calls again at its next tick; that is the retry.
                LogReadFailed(exception, Queue);
                return [];
            }

            if (records.Count == 0 || !await HandlePageAsync(records, cancellationToken))
            {
                return [];
            }
        }

        return TakeFromOutbox(maxCount);
    }

    // Delivery progress is tracked through the consumers' checkpoint answers, not the cache.
    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages) => Task.CompletedTask;

    public Task MessagesDeliveredAsync(IList<IBatchContainer> messages, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task Shutdown(TimeSpan timeout)
    {
        _stopping = true;
        try
        {
            // Graceful stop: leave a checkpoint for whoever reads the queue next. Orleans stops
            // delivering before it shuts the receiver down, so batches still in flight make it
            // fail, and the next reader replays them (consumers skip what they applied).
            if (_initialized && !_finished && _outbox.Count == 0)
            {
                var wait = timeout < Options.PendingCheckpointTimeout ? timeout : Options.PendingCheckpointTimeout;
                var result = await CheckpointNowAsync(wait, CancellationToken.None);
                if (result.Kind == CheckpointKind.Replay)
                {
                    LogShutdownWithoutCheckpoint(Queue, _committed?.ToString() ?? "none", result.Reason ?? "unknown");
                }
            }
        }
        finally
        {
            Statistics.Active = false;
            await _pages.Reader.DisposeAsync();
            LogStopped(Queue, _committed?.ToString() ?? "none");
        }
    }

    internal QueueSequenceToken NextToken(QueuePosition pageEnd) => new(_epoch, pageEnd, _ordinal++);

    internal TimeSpan Backoff(int failures)
    {
        var delay = TimeSpan.FromMilliseconds(50 * Math.Pow(2, Math.Min(failures, 10)));
        return delay < Options.MaxDeliveryBackoff ? delay : Options.MaxDeliveryBackoff;
    }

    /// <summary>Waits before a retry; returns early when the receiver stops.</summary>
    internal async Task DelayAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _time, _pumping);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Sends the records holding the given positions to the dead-letter store.</summary>
    internal async Task DeadLetterAsync(IReadOnlyList<QueueRecord> records, IReadOnlyList<QueuePosition> positions, string reason)
    {
        var sequences = positions.Select(p => p.Sequence).ToHashSet(StringComparer.Ordinal);
        foreach (var record in records.Where(r => sequences.Contains(r.Position.Sequence)))
        {
            await AddDeadLetterAsync(record, reason);
        }

        LogDeadLettered(Queue, reason);
    }

    private async Task<bool> TryInitializeAsync(CancellationToken cancellationToken)
    {
        if (_initialized)
        {
            return true;
        }

        try
        {
            _committed = await _checkpointer.LoadAsync(Queue, cancellationToken);
            _lastRead = _committed;
            await _pages.StartAsync(_committed, cancellationToken);
            _lastCheckpoint = _time.GetTimestamp();
            _initialized = true;
            Statistics.Active = true;
            Statistics.SetCommitted(_committed);
            LogStarted(Queue, _queueId.ToString(), _committed?.ToString() ?? "the beginning");
            return true;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Orleans pumps a receiver whose initialization failed; the next call tries again.
            LogInitializeFailed(exception, Queue);
            return false;
        }
    }

    /// <summary>Decodes a page and hands it to the page handler. False when it had to rewind.</summary>
    private async Task<bool> HandlePageAsync(IReadOnlyList<QueueRecord> records, CancellationToken cancellationToken)
    {
        _items.Clear();
        foreach (var record in records)
        {
            var before = _items.Count;
            string? error;
            try
            {
                error = _decoder.Decode(record, _items);
            }
            catch (Exception exception)
            {
                _items.RemoveRange(before, _items.Count - before);
                error = $"the decoder failed: {exception.GetType().Name}: {exception.Message}";
            }

            // A decoder may keep the valid items of a partly invalid record; the record itself
            // still goes to the dead-letter store with the reason.
            if (error is not null)
            {
                await AddDeadLetterAsync(record, error);
                LogPoisonRecord(Queue, record.Position.ToString(), error);
            }
        }

        var pageEnd = records[^1].Position;
        var page = new QueuePage(Queue, records, _items.ToArray());
        var context = new QueuePageContext(this, page, pageEnd);
        bool handled;
        try
        {
            handled = await _handler.HandleAsync(page, context);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogHandlerFailed(exception, Queue, records[0].Position.ToString());
            handled = false;
        }

        // Read and handled, or not: a replay starts over after the checkpoint and must not straddle what was delivered.
        if (_highWater is not { } highWater || pageEnd > highWater)
        {
            _highWater = pageEnd;
        }

        if (!handled || Stopping)
        {
            await RewindAsync(Stopping ? "stopping mid-page" : "a consumer lost effects it had not flushed", cancellationToken);
            return false;
        }

        foreach (var container in context.Published)
        {
            _outbox.Enqueue(container);
            Statistics.AddBatch();
        }

        _lastRead = pageEnd;
        Statistics.AddPage(records.Count, page.Items.Count);
        Statistics.SetLastDelivered(pageEnd);
        return true;
    }

    private List<IBatchContainer> TakeFromOutbox(int maxCount)
    {
        // Never hand Orleans more than it asked for: its cache throws when it overflows.
        var count = maxCount <= 0 ? _outbox.Count : Math.Min(maxCount, _outbox.Count);
        var batch = new List<IBatchContainer>(count);
        for (var i = 0; i < count; i++)
        {
            batch.Add(_outbox.Dequeue());
        }

        return batch;
    }

    private async Task AddDeadLetterAsync(QueueRecord record, string reason)
    {
        // A replay meets the same poison records again: keep each once (per receiver).
        if (_highWater is { } highWater && record.Position <= highWater)
        {
            return;
        }

        Statistics.AddPoisonRecord();
        await _deadLetters.AddAsync(new DeadLetter($"{Statistics.Provider}:{Queue}", record.Position.ToString(), reason, _time.GetUtcNow(), record.Data.ToArray()), CancellationToken.None);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Receiver of {Queue} ({QueueId}) started after {Checkpoint}")]
    private partial void LogStarted(string queue, string queueId, string checkpoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Receiver of {Queue} stopped at checkpoint {Checkpoint}")]
    private partial void LogStopped(string queue, string checkpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Initializing the receiver of {Queue} failed; retrying")]
    private partial void LogInitializeFailed(Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading {Queue} failed; retrying")]
    private partial void LogReadFailed(Exception exception, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Poison record in {Queue} at {Position}: {Reason}")]
    private partial void LogPoisonRecord(string queue, string position, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Records of {Queue} went to the dead-letter store: {Reason}")]
    private partial void LogDeadLettered(string queue, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The page handler failed on {Queue} at {Position}; replaying from the checkpoint")]
    private partial void LogHandlerFailed(Exception exception, string queue, string position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Receiver of {Queue} stops without a final checkpoint (it stays at {Checkpoint}): {Reason}")]
    private partial void LogShutdownWithoutCheckpoint(string queue, string checkpoint, string reason);
}
