using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Storage;

namespace Analytics.Grains.Persistence;

/// <summary>
/// Grain state as System.Text.Json, fields included, so the plain state classes of the analytics
/// grains need no serializer attributes, stay readable in DynamoDB and SQLite, and keep the layout
/// that earlier builds wrote. The storage providers of "analytics" are configured with it.
/// </summary>
public sealed class JsonGrainStateSerializer : IGrainStorageSerializer
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.General)
    {
        IncludeFields = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public BinaryData Serialize<T>(T? input) => new(JsonSerializer.SerializeToUtf8Bytes(input, Options));

    public T Deserialize<T>(BinaryData input) =>
        JsonSerializer.Deserialize<T>(input.ToMemory().Span, Options)
        ?? throw new JsonException($"The stored state of type {typeof(T).Name} is null.");
}
