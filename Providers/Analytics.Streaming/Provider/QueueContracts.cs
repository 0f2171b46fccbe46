namespace Analytics.Streaming;

/// <summary>A record as a queue stores it: the stream key it was appended under, its bytes and its position.</summary>
public sealed record QueueRecord(string StreamKey, ReadOnlyMemory<byte> Data, QueuePosition Position);

/// <summary>One decoded item of a record, with its own position (the record's sequence, the item's index as sub-sequence).</summary>
public readonly record struct QueueItem(string StreamKey, object Value, QueuePosition Position);

/// <summary>
/// Reads one queue (a local-log partition, a Kinesis shard) in order from a position. The
/// provider-specific half of a receiver; <c>CheckpointingQueueReceiver</c> is the shared half.
/// </summary>
public interface IQueueReader : IAsyncDisposable
{
    /// <summary>Positions the reader just after the given position, or at the start of the queue when null.</summary>
    Task InitializeAsync(QueuePosition? after, CancellationToken cancellationToken);

    /// <summary>The next records in order; empty when there are none yet.</summary>
    Task<IReadOnlyList<QueueRecord>> ReadAsync(int maxCount, CancellationToken cancellationToken);

    /// <summary>True once a closed queue (a Kinesis parent shard) has been read to its end.</summary>
    bool IsAtEnd { get; }

    /// <summary>How far behind the newest record the last read was (Kinesis MillisBehindLatest), when the queue knows.</summary>
    TimeSpan? Lag { get; }
}

/// <summary>Where each queue's checkpoint lives. Saves only move forward.</summary>
public interface IQueueCheckpointer
{
    Task<QueuePosition?> LoadAsync(string queue, CancellationToken cancellationToken);

    /// <summary>Throws <see cref="QueueLeaseLostException"/> when this silo no longer owns the queue.</summary>
    Task SaveAsync(string queue, QueuePosition position, CancellationToken cancellationToken);

    /// <summary>Records that a closed queue was read, delivered and checkpointed to its end. Queues that never close ignore it.</summary>
    Task SaveEndAsync(string queue, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Thrown by a checkpointer when this silo no longer owns the queue: its receiver must stop.</summary>
public sealed class QueueLeaseLostException(string queue, string owner)
    : Exception($"The lease of {queue} is no longer held by {owner}; another silo reads it now.")
{
    public string Queue { get; } = queue;
}

/// <summary>Appends records to a provider's queues; returns when every one of them is durable (the ingest path).</summary>
public interface IQueueWriter
{
    Task AppendAsync(IReadOnlyList<(string StreamKey, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken);

    /// <summary>
    /// Stream keys with the same affinity land in the same queue, so a producer may pack their
    /// items into one record (keyed by any of them) without breaking per-key order. Fixed
    /// partitions return the partition; Kinesis returns the key itself (it packs nothing).
    /// </summary>
    string GetQueueAffinity(string streamKey);
}

/// <summary>Turns a record's bytes into items. A record that cannot be decoded is a poison record.</summary>
public interface IQueueRecordDecoder
{
    /// <summary>
    /// Adds the record's valid items; returns null, or why (part of) the record is invalid. An
    /// invalid record goes to the dead-letter store; the items added for it are still delivered.
    /// </summary>
    string? Decode(QueueRecord record, List<QueueItem> items);
}

/// <summary>One page read from a queue and decoded, handed to the application's <see cref="IQueuePageHandler"/>.</summary>
public sealed record QueuePage(string Queue, IReadOnlyList<QueueRecord> Records, IReadOnlyList<QueueItem> Items);

/// <summary>
/// The application's part of a receiver: what one decoded page means. It calls the direct
/// consumers through <see cref="IQueuePageContext.DeliverAsync{T}"/> and publishes what later
/// stages consume on Orleans streams through <see cref="IQueuePageContext.Publish{T}"/>. It must be
/// deterministic for a given page and consumer answers, because pages are replayed.
/// </summary>
public interface IQueuePageHandler
{
    /// <summary>False when a direct consumer reported a gap: the receiver replays from its checkpoint.</summary>
    Task<bool> HandleAsync(QueuePage page, IQueuePageContext context);
}

/// <summary>What a receiver offers its page handler while it handles one page.</summary>
public interface IQueuePageContext
{
    string Queue { get; }

    IGrainFactory GrainFactory { get; }

    /// <summary>
    /// Delivers items to a direct consumer: with the Previous position tracked per consumer, resends
    /// after the consumer's watermark, retries of transient failures, and the records sent to the
    /// dead-letter store once the consumer keeps failing on them (reported as dropped).
    /// </summary>
    Task<DeliveryOutcome> DeliverAsync<T>(IQueueConsumer<T> consumer, IReadOnlyList<T> items, IReadOnlyList<QueuePosition> positions);

    /// <summary>
    /// Publishes one payload for a later stage on an Orleans stream of this provider: it becomes a
    /// <see cref="QueueDelivery{T}"/> (Previous tracked per stream) in a batch container that the
    /// pulling agent delivers to the stream's implicit subscriber, <paramref name="consumer"/>, which
    /// the receiver then includes in its next checkpoint.
    /// </summary>
    void Publish<T>(StreamId stream, T payload, QueuePosition first, QueuePosition last, IQueueCheckpointParticipant consumer);
}

/// <summary>A record that could not be processed, kept so that nothing is lost silently.</summary>
[GenerateSerializer, Immutable, Alias("Analytics.DeadLetter")]
public sealed record DeadLetter(
    [property: Id(0)] string Queue,
    [property: Id(1)] string Sequence,
    [property: Id(2)] string Reason,
    [property: Id(3)] DateTimeOffset Time,
    [property: Id(4)] byte[] Data);

/// <summary>Keeps poison records for inspection (GET /api/dead-letters).</summary>
public interface IDeadLetterStore
{
    Task AddAsync(DeadLetter letter, CancellationToken cancellationToken);

    Task<IReadOnlyList<DeadLetter>> ListAsync(int limit, CancellationToken cancellationToken);

    Task<long> CountAsync(CancellationToken cancellationToken);
}
