namespace Analytics.Runtime.Streaming.Leases;

/// <summary>
/// One queue's lease row, in the style of the Kinesis Client Library's lease table: who reads the
/// queue, a counter that every renewal, take and release bumps (the fencing token of every
/// ownership change), how far it has been read, and which queues it continues (a Kinesis child
/// shard's parents), since a queue may be read only after its parents have ended.
/// </summary>
/// <param name="Owner">The reading silo's identity (unique per process start), or null when free.</param>
/// <param name="Counter">Bumped by every ownership write; a write that expects an older value fails.</param>
/// <param name="Checkpoint">The last token whose effects are durable, <see cref="EndCheckpoint"/> once the queue is read to its end, or null when nothing is.</param>
public sealed record QueueLease(QueueId Queue, string? Owner, long Counter, string? Checkpoint, IReadOnlyList<string> Parents)
{
    /// <summary>The checkpoint of a closed queue that has been read, delivered and checkpointed to its end (KCL's SHARD_END).</summary>
    public const string EndCheckpoint = "SHARD_END";

    public bool IsEnded => Checkpoint == EndCheckpoint;

    /// <summary>The checkpoint as a token: null when nothing is read yet, or when the queue has ended.</summary>
    public StreamSequenceToken? CheckpointToken => Checkpoint is null or EndCheckpoint ? null : StreamSequenceToken.Parse(Checkpoint);
}

/// <summary>A queue and the queues it continues (parents), as the adapter lists them.</summary>
public sealed record QueueInfo(QueueId Queue, IReadOnlyList<string> Parents);
