using System.Text.Json;

namespace Analytics.Runtime.Persistence;

/// <summary>
/// A named storage provider. The shape fits a key-value store with conditional writes and no
/// transactions (DynamoDB): each call touches one grain's one state, and correctness rests on the
/// ETag compare-and-swap alone. A provider whose items are size-limited keeps large states in
/// several items, but must make the final, conditional write the single point at which the new
/// version becomes visible (see docs/ARCHITECTURE.md, "Persistence").
/// </summary>
public interface IGrainStorage
{
    /// <summary>Loads the state, or leaves a fresh one with ETag null and RecordExists false.</summary>
    Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken);

    /// <summary>Writes if the stored ETag equals grainState.ETag, and sets the new ETag; otherwise throws InconsistentStateException.</summary>
    Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken);

    /// <summary>Deletes the record under the same ETag condition.</summary>
    Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken);
}

/// <summary>How providers turn state into bytes. System.Text.Json with fields included, so plain state classes work.</summary>
public static class GrainStateSerializer
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.General)
    {
        IncludeFields = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static byte[] Serialize<T>(T state) => JsonSerializer.SerializeToUtf8Bytes(state, Options);

    public static T? Deserialize<T>(ReadOnlySpan<byte> data) => JsonSerializer.Deserialize<T>(data, Options);
}
