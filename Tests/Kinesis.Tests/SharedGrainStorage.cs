using System.Collections.Concurrent;
using System.Text.Json;
using Orleans.Storage;

namespace Analytics.Kinesis.Tests;

/// <summary>
/// Grain state that outlives a silo, as DynamoDB's does, for the in-process silos of one test:
/// one store shared by all of them (Orleans' memory storage keeps state on a silo, and loses it
/// with the silo). ETags are checked as a real store checks them.
/// </summary>
public sealed class SharedStateStore
{
    private readonly ConcurrentDictionary<string, (string ETag, string Json)> _states = new(StringComparer.Ordinal);

    public (string ETag, string Json)? Read(string key) => _states.TryGetValue(key, out var state) ? state : null;

    public string Write(string key, string? expectedETag, string json)
    {
        lock (_states)
        {
            var current = Read(key);
            if (current?.ETag != expectedETag)
            {
                throw new InconsistentStateException($"ETag mismatch for {key}", current?.ETag ?? "none", expectedETag ?? "none");
            }

            var etag = Guid.NewGuid().ToString("N");
            _states[key] = (etag, json);
            return etag;
        }
    }
}

/// <summary>One silo's door to the shared store; a crashed silo's writes never arrive.</summary>
public sealed class SharedGrainStorage(SharedStateStore store, SiloFaults faults) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        faults.ThrowIfCrashed();
        if (store.Read($"{stateName}/{grainId}") is { } state)
        {
            grainState.State = JsonSerializer.Deserialize<T>(state.Json)!;
            grainState.ETag = state.ETag;
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        faults.ThrowIfCrashed();
        grainState.ETag = store.Write($"{stateName}/{grainId}", grainState.ETag, JsonSerializer.Serialize(grainState.State));
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        throw new NotSupportedException("The tests never clear state.");
}

/// <summary>Makes one silo's outside world (its lease table, its grain storage) unreachable, as a crash does.</summary>
public sealed class SiloFaults
{
    private volatile bool _crashed;
    private volatile bool _leasesCut;

    public void Crash() => _crashed = true;

    /// <summary>Only the lease table becomes unreachable; the silo and its grains go on.</summary>
    public void CutLeaseTable() => _leasesCut = true;

    public void ThrowIfLeasesCut()
    {
        ThrowIfCrashed();
        if (_leasesCut)
        {
            throw new IOException("This silo cannot reach the lease table.");
        }
    }

    public void ThrowIfCrashed()
    {
        if (_crashed)
        {
            throw new IOException("This silo crashed: nothing it does reaches the outside any more.");
        }
    }
}

/// <summary>A lease table that a crashed silo cannot reach: no renewal, release or checkpoint of its lands.</summary>
public sealed class CrashableLeaseTable(IShardLeaseTable inner, SiloFaults faults) : IShardLeaseTable
{
    public Task InitializeAsync(CancellationToken cancellationToken) => Run(() => inner.InitializeAsync(cancellationToken));

    public Task<IReadOnlyList<ShardLease>> ListAsync(CancellationToken cancellationToken) => Run(() => inner.ListAsync(cancellationToken));

    public Task<ShardLease?> ReadAsync(string shard, CancellationToken cancellationToken) => Run(() => inner.ReadAsync(shard, cancellationToken));

    public Task CreateIfMissingAsync(ShardInfo shard, CancellationToken cancellationToken) => Run(() => inner.CreateIfMissingAsync(shard, cancellationToken));

    public Task<ShardLease?> TryAcquireAsync(ShardLease observed, string owner, CancellationToken cancellationToken) => Run(() => inner.TryAcquireAsync(observed, owner, cancellationToken));

    public Task<ShardLease?> TryRenewAsync(ShardLease held, CancellationToken cancellationToken) => Run(() => inner.TryRenewAsync(held, cancellationToken));

    public Task<bool> TryCheckpointAsync(string shard, string owner, string checkpoint, CancellationToken cancellationToken) =>
        Run(() => inner.TryCheckpointAsync(shard, owner, checkpoint, cancellationToken));

    public Task<bool> TryReleaseAsync(ShardLease held, CancellationToken cancellationToken) => Run(() => inner.TryReleaseAsync(held, cancellationToken));

    public Task DeleteAsync(ShardLease ended, CancellationToken cancellationToken) => Run(() => inner.DeleteAsync(ended, cancellationToken));

    private Task<T> Run<T>(Func<Task<T>> call)
    {
        faults.ThrowIfLeasesCut();
        return call();
    }

    private Task Run(Func<Task> call)
    {
        faults.ThrowIfLeasesCut();
        return call();
    }
}
