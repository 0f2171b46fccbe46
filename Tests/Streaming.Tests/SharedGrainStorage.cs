using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Orleans.Storage;

namespace Analytics.Streaming.Tests;

/// <summary>
/// Grain storage that outlives silos: states are kept per store name in this process, as JSON
/// copies, so that a killed silo or a stopped cluster loses exactly what a grain had not written,
/// and a later cluster on the same store finds what was. ETags behave as the real stores' do.
/// </summary>
public sealed class SharedGrainStorage(string store) : IGrainStorage
{
    private static readonly ConcurrentDictionary<string, ConcurrentDictionary<string, (string Json, string ETag)>> Stores = new();
    private static long _etags;

    private ConcurrentDictionary<string, (string Json, string ETag)> Rows => Stores.GetOrAdd(store, _ => new());

    public static void Delete(string store) => Stores.TryRemove(store, out _);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (Rows.TryGetValue(Key(stateName, grainId), out var row))
        {
            grainState.State = JsonSerializer.Deserialize<T>(row.Json)!;
            grainState.ETag = row.ETag;
            grainState.RecordExists = true;
        }
        else
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var etag = Interlocked.Increment(ref _etags).ToString(CultureInfo.InvariantCulture);
        var json = JsonSerializer.Serialize(grainState.State);
        lock (Rows)
        {
            var stored = Rows.TryGetValue(key, out var row) ? row.ETag : null;
            if (stored != grainState.ETag)
            {
                throw new InconsistentStateException($"ETag mismatch for {key}", stored, grainState.ETag);
            }

            Rows[key] = (json, etag);
        }

        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        Rows.TryRemove(Key(stateName, grainId), out _);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private static string Key(string stateName, GrainId grainId) => $"{stateName}/{grainId}";
}
