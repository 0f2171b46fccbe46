using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Orleans.Storage;

namespace Analytics.Streaming.Tests;

/// <summary>
/// Grain storage that outlives silos, in this process: a killed silo loses exactly what its grains
/// had not written, and the silo that takes over finds what they had, and a later cluster on the
/// same store finds it too. States go through the given serializer (the application's, where it
/// has one), and ETags are checked as the real stores check them. Shared by Streaming.Tests and
/// Analytics.Tests.
/// </summary>
public sealed class SharedGrainStorage(string store, IGrainStorageSerializer? serializer = null) : IGrainStorage
{
    private static readonly ConcurrentDictionary<string, ConcurrentDictionary<string, (BinaryData Data, string ETag)>> Stores = new();
    private static readonly ConcurrentDictionary<string, long> WriteCounts = new();
    private static long _etags;
    private readonly IGrainStorageSerializer _serializer = serializer ?? new FieldsJsonSerializer();

    private ConcurrentDictionary<string, (BinaryData Data, string ETag)> Rows => Stores.GetOrAdd(store, _ => new());

    public static void Delete(string store)
    {
        Stores.TryRemove(store, out _);
        WriteCounts.TryRemove(store, out _);
    }

    /// <summary>The states stored whose state name starts with a prefix.</summary>
    public static int CountStates(string store, string stateNamePrefix) =>
        Stores.TryGetValue(store, out var rows) ? rows.Keys.Count(k => k.StartsWith(stateNamePrefix, StringComparison.Ordinal)) : 0;

    /// <summary>Successful state writes into a store so far.</summary>
    public static long Writes(string store) => WriteCounts.GetValueOrDefault(store);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (Rows.TryGetValue(Key(stateName, grainId), out var row))
        {
            (grainState.State, grainState.ETag, grainState.RecordExists) = (_serializer.Deserialize<T>(row.Data), row.ETag, true);
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
        var data = _serializer.Serialize(grainState.State);
        lock (Rows)
        {
            CheckETag(key, grainState.ETag);
            Rows[key] = (data, etag);
        }

        (grainState.ETag, grainState.RecordExists) = (etag, true);
        WriteCounts.AddOrUpdate(store, 1, (_, n) => n + 1);
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

    /// <summary>System.Text.Json with fields, for test grains whose state has no serializer of its own.</summary>
    private sealed class FieldsJsonSerializer : IGrainStorageSerializer
    {
        private static readonly JsonSerializerOptions Options = new() { IncludeFields = true };

        public BinaryData Serialize<T>(T? input) => new(JsonSerializer.SerializeToUtf8Bytes(input, Options));

        public T Deserialize<T>(BinaryData input) => JsonSerializer.Deserialize<T>(input.ToMemory().Span, Options)!;
    }
}
