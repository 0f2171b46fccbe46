namespace Analytics.Streaming.Kinesis;

/// <summary>
/// Shard leases in memory, for tests and single-process clusters: the same conditions as
/// <see cref="DynamoDBShardLeaseTable"/>, checked under one lock. Share one instance between
/// the silos of a test cluster.
/// </summary>
public sealed class MemoryShardLeaseTable : IShardLeaseTable
{
    private readonly Dictionary<string, ShardLease> _leases = new(StringComparer.Ordinal);

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<IReadOnlyList<ShardLease>> ListAsync(CancellationToken cancellationToken)
    {
        lock (_leases)
        {
            return Task.FromResult<IReadOnlyList<ShardLease>>([.. _leases.Values]);
        }
    }

    public Task<ShardLease?> ReadAsync(string shard, CancellationToken cancellationToken)
    {
        lock (_leases)
        {
            return Task.FromResult(_leases.GetValueOrDefault(shard));
        }
    }

    public Task CreateIfMissingAsync(ShardInfo shard, CancellationToken cancellationToken)
    {
        lock (_leases)
        {
            _leases.TryAdd(shard.Shard, new ShardLease(shard.Shard, null, 0, null, [.. shard.Parents]));
        }

        return Task.CompletedTask;
    }

    public Task<ShardLease?> TryAcquireAsync(ShardLease observed, string owner, CancellationToken cancellationToken) =>
        Task.FromResult(Update(observed.Shard, l => l.Counter == observed.Counter && l.Owner == observed.Owner, l => l with { Owner = owner, Counter = l.Counter + 1 }));

    public Task<ShardLease?> TryRenewAsync(ShardLease held, CancellationToken cancellationToken) =>
        Task.FromResult(Update(held.Shard, l => l.Counter == held.Counter && l.Owner == held.Owner, l => l with { Counter = l.Counter + 1 }));

    public Task<bool> TryCheckpointAsync(string shard, string owner, string checkpoint, CancellationToken cancellationToken) =>
        Task.FromResult(Update(shard, l => l.Owner == owner, l => l with { Checkpoint = checkpoint }) is not null);

    public Task<bool> TryReleaseAsync(ShardLease held, CancellationToken cancellationToken) =>
        Task.FromResult(Update(held.Shard, l => l.Owner is not null && l.Owner == held.Owner, l => l with { Owner = null, Counter = l.Counter + 1 }) is not null);

    public Task DeleteAsync(ShardLease ended, CancellationToken cancellationToken)
    {
        lock (_leases)
        {
            if (_leases.TryGetValue(ended.Shard, out var current) && current.IsEnded)
            {
                _leases.Remove(ended.Shard);
            }
        }

        return Task.CompletedTask;
    }

    private ShardLease? Update(string shard, Func<ShardLease, bool> condition, Func<ShardLease, ShardLease> change)
    {
        lock (_leases)
        {
            if (!_leases.TryGetValue(shard, out var current) || !condition(current))
            {
                return null;
            }

            var updated = change(current);
            _leases[shard] = updated;
            return updated;
        }
    }
}
