namespace Analytics.Streaming.Kinesis;

/// <summary>
/// One shard's lease row, in the style of the Kinesis Client Library's lease table: who reads the
/// shard, a counter that every renewal, take and release bumps (the fencing token of every
/// ownership change), how far it has been read, and which shards it continues (a split's or a
/// merge's parents), since a shard may be read only after its parents have ended.
/// </summary>
/// <param name="Owner">The reading silo's identity (unique per process start), or null when free.</param>
/// <param name="Counter">Bumped by every ownership write; a write that expects an older value fails.</param>
/// <param name="Checkpoint">The last position whose effects are durable, <see cref="EndCheckpoint"/> once the shard is read to its end, or null when nothing is.</param>
public sealed record ShardLease(string Shard, string? Owner, long Counter, string? Checkpoint, IReadOnlyList<string> Parents)
{
    /// <summary>The checkpoint of a closed shard read, delivered and checkpointed to its end (KCL's SHARD_END).</summary>
    public const string EndCheckpoint = "SHARD_END";

    public bool IsEnded => Checkpoint == EndCheckpoint;

    /// <summary>The checkpoint as a position: null when nothing is read yet, or when the shard has ended.</summary>
    public QueuePosition? Position => Checkpoint is null or EndCheckpoint ? null : QueuePosition.Parse(Checkpoint);
}

/// <summary>A shard and the shards it continues (parents), as ListShards tells them.</summary>
public sealed record ShardInfo(string Shard, IReadOnlyList<string> Parents);

/// <summary>
/// Where one provider's shard leases live (DynamoDB in production, memory in tests). Every write
/// is conditional, so two silos never both believe they own a shard: the table settles it, and
/// the silos run no protocol of their own. Failed conditions are answers (null or false), not
/// exceptions; exceptions mean the table could not be reached.
/// </summary>
public interface IShardLeaseTable
{
    /// <summary>Creates the table when missing (or checks that it exists). Called before any other method.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Every lease of this provider, read consistently.</summary>
    Task<IReadOnlyList<ShardLease>> ListAsync(CancellationToken cancellationToken);

    /// <summary>One lease, read consistently; null when there is none.</summary>
    Task<ShardLease?> ReadAsync(string shard, CancellationToken cancellationToken);

    /// <summary>Adds a free lease (no owner, counter 0, no checkpoint) for a shard that has none. Does nothing when one exists.</summary>
    Task CreateIfMissingAsync(ShardInfo shard, CancellationToken cancellationToken);

    /// <summary>
    /// Takes a lease as it was observed (free, expired, or stolen): succeeds only if its counter and
    /// owner are still what <paramref name="observed"/> says. Returns the lease now held (owner set,
    /// counter bumped), or null when someone else changed it first.
    /// </summary>
    Task<ShardLease?> TryAcquireAsync(ShardLease observed, string owner, CancellationToken cancellationToken);

    /// <summary>Bumps the counter of a lease still held (same owner and counter). Null when it was lost.</summary>
    Task<ShardLease?> TryRenewAsync(ShardLease held, CancellationToken cancellationToken);

    /// <summary>Moves the checkpoint, only while <paramref name="owner"/> still owns the lease. False when it does not.</summary>
    Task<bool> TryCheckpointAsync(string shard, string owner, string checkpoint, CancellationToken cancellationToken);

    /// <summary>Gives a held lease up (graceful stop, or an ended shard) so that another silo may take it at once. False when it was lost already.</summary>
    Task<bool> TryReleaseAsync(ShardLease held, CancellationToken cancellationToken);

    /// <summary>Removes the lease of an ended shard that the stream no longer lists (trimmed past retention).</summary>
    Task DeleteAsync(ShardLease ended, CancellationToken cancellationToken);
}
