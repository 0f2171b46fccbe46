namespace Analytics.Runtime.Streaming.Leases;

/// <summary>
/// Where queue leases live (DynamoDB in production, memory in test clusters). Every write is
/// conditional, so two silos never both believe they own a queue: the table settles it, and the
/// silos run no protocol of their own. Conditional failures are answers (null or false), not
/// exceptions; exceptions mean the table could not be reached.
/// </summary>
public interface IQueueLeaseTable
{
    /// <summary>Creates the table when missing (or checks that it exists). Called once before any other method.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Every lease of the provider's queues, read consistently.</summary>
    Task<IReadOnlyList<QueueLease>> ListAsync(string provider, CancellationToken cancellationToken);

    /// <summary>Adds a free lease for a queue that has none (no owner, counter 0, no checkpoint). Does nothing when one exists.</summary>
    Task CreateIfMissingAsync(QueueInfo queue, CancellationToken cancellationToken);

    /// <summary>
    /// Takes a lease as it was observed (free, expired, or stolen): succeeds only if its counter and
    /// owner are still what <paramref name="observed"/> says. Returns the lease now held (owner set,
    /// counter bumped), or null when someone else changed it first.
    /// </summary>
    Task<QueueLease?> TryAcquireAsync(QueueLease observed, string owner, CancellationToken cancellationToken);

    /// <summary>Bumps the counter of a lease still held (same owner and counter). Null when it was lost.</summary>
    Task<QueueLease?> TryRenewAsync(QueueLease held, CancellationToken cancellationToken);

    /// <summary>Moves the checkpoint, only while <paramref name="owner"/> still owns the lease. False when it does not.</summary>
    Task<bool> TryCheckpointAsync(QueueId queue, string owner, string checkpoint, CancellationToken cancellationToken);

    /// <summary>Gives a held lease up (graceful stop, or rebalancing) so that another silo takes it at once. False when it was lost already.</summary>
    Task<bool> TryReleaseAsync(QueueLease held, CancellationToken cancellationToken);

    /// <summary>Removes the lease of an ended queue that the stream no longer lists (trimmed past retention).</summary>
    Task DeleteAsync(QueueLease ended, CancellationToken cancellationToken);
}
