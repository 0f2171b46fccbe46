namespace Analytics.Runtime.Streaming.Leases;

/// <summary>The lease table of a test cluster, shared by its silos: the same conditions as DynamoDB's, under a lock.</summary>
public sealed class MemoryQueueLeaseTable : IQueueLeaseTable
{
    private readonly Dictionary<QueueId, QueueLease> _leases = [];

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<IReadOnlyList<QueueLease>> ListAsync(string provider, CancellationToken cancellationToken)
    {
        lock (_leases)
        {
            return Task.FromResult<IReadOnlyList<QueueLease>>(_leases.Values.Where(l => l.Queue.Provider == provider).ToList());
        }
    }

    public Task CreateIfMissingAsync(QueueInfo queue, CancellationToken cancellationToken)
    {
        lock (_leases)
        {
            _leases.TryAdd(queue.Queue, new QueueLease(queue.Queue, null, 0, null, queue.Parents));
        }

        return Task.CompletedTask;
    }

    public Task<QueueLease?> TryAcquireAsync(QueueLease observed, string owner, CancellationToken cancellationToken) =>
        Task.FromResult(Update(observed.Queue, l => l.Counter == observed.Counter && l.Owner == observed.Owner, l => l with { Owner = owner, Counter = l.Counter + 1 }));

    public Task<QueueLease?> TryRenewAsync(QueueLease held, CancellationToken cancellationToken) =>
        Task.FromResult(Update(held.Queue, l => l.Counter == held.Counter && l.Owner == held.Owner, l => l with { Counter = l.Counter + 1 }));

    public Task<bool> TryCheckpointAsync(QueueId queue, string owner, string checkpoint, CancellationToken cancellationToken) =>
        Task.FromResult(Update(queue, l => l.Owner == owner, l => l with { Checkpoint = checkpoint }) is not null);

    public Task<bool> TryReleaseAsync(QueueLease held, CancellationToken cancellationToken) =>
        Task.FromResult(Update(held.Queue, l => l.Owner == held.Owner, l => l with { Owner = null, Counter = l.Counter + 1 }) is not null);

    public Task DeleteAsync(QueueLease ended, CancellationToken cancellationToken)
    {
        lock (_leases)
        {
            if (_leases.TryGetValue(ended.Queue, out var current) && current.IsEnded)
            {
                _leases.Remove(ended.Queue);
            }
        }

        return Task.CompletedTask;
    }

    private QueueLease? Update(QueueId queue, Func<QueueLease, bool> condition, Func<QueueLease, QueueLease> change)
    {
        lock (_leases)
        {
            if (!_leases.TryGetValue(queue, out var current) || !condition(current))
            {
                return null;
            }

            var updated = change(current);
            _leases[queue] = updated;
            return updated;
        }
    }
}
