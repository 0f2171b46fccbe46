using System.Collections.Concurrent;
using System.Globalization;

namespace Analytics.Runtime.Persistence;

/// <summary>
/// Grain storage in memory, for tests. It stores serialised bytes rather than object references,
/// so it behaves like real storage: a grain never shares objects with what was written.
/// </summary>
public sealed class MemoryGrainStorage(MemoryGrainStorage.Store store) : IGrainStorage
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        if (store.Items.TryGetValue((grainId.ToString(), stateName), out var item))
        {
            grainState.State = GrainStateSerializer.Deserialize<T>(item.Data)!;
            grainState.ETag = item.ETag.ToString(CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
        }
        else
        {
            grainState.ETag = null;
            grainState.RecordExists = false;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var key = (grainId.ToString(), stateName);
        var data = GrainStateSerializer.Serialize(grainState.State);
        lock (store.Items)
        {
            var current = store.Items.TryGetValue(key, out var item) ? item.ETag.ToString(CultureInfo.InvariantCulture) : null;
            if (current != grainState.ETag)
            {
                throw InconsistentStateException.ForState(grainId.ToString(), stateName, grainState.ETag, current);
            }

            var next = (item?.ETag ?? 0) + 1;
            store.Items[key] = new Item(next, data);
            grainState.ETag = next.ToString(CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var key = (grainId.ToString(), stateName);
        lock (store.Items)
        {
            var current = store.Items.TryGetValue(key, out var item) ? item.ETag.ToString(CultureInfo.InvariantCulture) : null;
            if (current != grainState.ETag)
            {
                throw InconsistentStateException.ForState(grainId.ToString(), stateName, grainState.ETag, current);
            }

            store.Items.TryRemove(key, out _);
            grainState.ETag = null;
            grainState.RecordExists = false;
        }

        return Task.CompletedTask;
    }

    /// <summary>The backing store; shared by all silos of a test cluster.</summary>
    public sealed class Store
    {
        internal ConcurrentDictionary<(string GrainId, string StateName), Item> Items { get; } = new();
    }

    internal sealed record Item(long ETag, byte[] Data);
}
