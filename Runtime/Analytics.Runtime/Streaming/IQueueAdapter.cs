namespace Analytics.Runtime.Streaming;

/// <summary>
/// A persistent stream provider's queues, in the style of Orleans' queue adapters: the producer
/// side appends records, and one receiver per queue reads them back in order from a position.
/// </summary>
public interface IQueueAdapter
{
    string Name { get; }

    /// <summary>The queues that exist now. Kinesis shards change with resharding, so this is asked again from time to time.</summary>
    Task<IReadOnlyList<QueueId>> GetQueuesAsync(CancellationToken cancellationToken);

    /// <summary>Appends records; returns when every one of them is durable.</summary>
    Task AppendAsync(IReadOnlyList<(StreamId Stream, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken);

    /// <summary>
    /// The queues with the queues each continues (a Kinesis child shard's parents). Lease-balanced
    /// providers read a queue only after its parents have ended. The default: no parents.
    /// </summary>
    async Task<IReadOnlyList<Leases.QueueInfo>> GetQueueLineageAsync(CancellationToken cancellationToken) =>
        (await GetQueuesAsync(cancellationToken).ConfigureAwait(false)).Select(q => new Leases.QueueInfo(q, [])).ToList();

    IQueueAdapterReceiver CreateReceiver(QueueId queue);

    /// <summary>
    /// Streams with the same key here land in the same queue, so a producer may pack their items
    /// into one record (keyed by any of them) without breaking per-stream order. Adapters whose
    /// queues are fixed partitions return the partition; the default, the stream key, packs nothing.
    /// </summary>
    string GetQueueAffinity(StreamId stream) => stream.Key;
}

public interface IQueueAdapterReceiver : IAsyncDisposable
{
    /// <summary>Positions the receiver just after the given token, or at the start of the queue when null.</summary>
    Task InitializeAsync(StreamSequenceToken? after, CancellationToken cancellationToken);

    /// <summary>The next records in order; empty when there are none yet.</summary>
    Task<IReadOnlyList<QueueRecord>> GetMessagesAsync(int maxCount, CancellationToken cancellationToken);

    /// <summary>True once a closed queue (a Kinesis parent shard) has been read to its end.</summary>
    bool IsAtEnd { get; }

    /// <summary>How far behind the newest record the last read was (Kinesis MillisBehindLatest), when the queue knows.</summary>
    TimeSpan? Lag { get; }
}

/// <summary>Where each queue's checkpoint lives. Saves only move forward.</summary>
public interface IStreamCheckpointer
{
    Task<StreamSequenceToken?> LoadAsync(QueueId queue, CancellationToken cancellationToken);

    Task SaveAsync(QueueId queue, StreamSequenceToken token, CancellationToken cancellationToken);

    /// <summary>Records that a closed queue was read, delivered and checkpointed to its end. Queues that never close ignore it.</summary>
    Task SaveEndAsync(QueueId queue, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Thrown by a checkpointer when this silo no longer owns the queue: its reader must stop.</summary>
public sealed class QueueLeaseLostException(QueueId queue, string owner)
    : Exception($"The lease of {queue} is no longer held by {owner}; another silo reads it now.")
{
    public QueueId Queue { get; } = queue;
}

/// <summary>Turns a record's bytes into items. A record that cannot be decoded is a poison record.</summary>
public interface IStreamRecordDecoder
{
    /// <summary>
    /// Adds the record's valid items; returns null, or why (part of) the record is invalid. An
    /// invalid record goes to the dead-letter store; the items added for it are still delivered.
    /// </summary>
    string? Decode(QueueRecord record, List<StreamItem> items);
}

/// <summary>The default decoder: one item per record whose value is the record's bytes.</summary>
public sealed class RawBytesDecoder : IStreamRecordDecoder
{
    public string? Decode(QueueRecord record, List<StreamItem> items)
    {
        items.Add(new StreamItem(record.Stream, record.Data, record.Token));
        return null;
    }
}
