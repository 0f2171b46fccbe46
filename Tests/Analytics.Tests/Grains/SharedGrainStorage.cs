using System.Collections.Concurrent;
using System.Globalization;
using Analytics.Grains.Persistence;
using Orleans.Storage;

namespace Analytics.Tests.Grains;

/// <summary>
/// Grain storage that outlives silos, in this process: a killed silo loses exactly what its grains
/// had not written, and the silo that takes over finds what they had. States go through the same
/// <see cref="JsonGrainStateSerializer"/> as the real stores, and ETags are checked as theirs are.
/// </summary>
internal sealed class SharedGrainStorage(string store) : IGrainStorage
{
    private static readonly ConcurrentDictionary<string, ConcurrentDictionary<string, (BinaryData Data, string ETag)>> Stores = new();
    private static readonly JsonGrainStateSerializer Serializer = new();
    private static long _etags;

    private ConcurrentDictionary<string, (BinaryData Data, string ETag)> Rows => Stores.GetOrAdd(store, _ => new());

    public static void Delete(string store) => Stores.TryRemove(store, out _);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (Rows.TryGetValue(Key(stateName, grainId), out var row))
        {
            (grainState.State, grainState.ETag, grainState.RecordExists) = (Serializer.Deserialize<T>(row.Data), row.ETag, true);
        }
        else
        {
            (grainState.State, grainState.ETag, grainState.RecordExists) = (Activator.CreateInstance<T>(), null, false);
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var etag = Interlocked.Increment(ref _etags).ToString(CultureInfo.InvariantCulture);
        var data = Serializer.Serialize(grainState.State);
        lock (Rows)
        {
            CheckETag(key, grainState.ETag);
            Rows[key] = (data, etag);
        }

        (grainState.ETag, grainState.RecordExists) = (etag, true);
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        lock (Rows)
        {
            CheckETag(key, grainState.ETag);
            Rows.TryRemove(key, out _);
        }

        (grainState.ETag, grainState.RecordExists) = (null, false);
        return Task.CompletedTask;
    }

    private void CheckETag(string key, string? expected)
    {
        var stored = Rows.TryGetValue(key, out var row) ? row.ETag : null;
        if (stored != expected)
        {
            throw new InconsistentStateException($"ETag mismatch for {key}", stored ?? "", expected ?? "");
        }
    }

    private static string Key(string stateName, GrainId grainId) => $"{stateName}/{grainId}";
}
