using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Analytics.Runtime.Streaming;

namespace Analytics.Runtime.Messaging.Serialization;

/// <summary>
/// How grain call arguments and results cross processes: System.Text.Json over UTF-8, each value
/// with its declared type, so adding a property to a record stays compatible both ways (an unknown
/// property is skipped, a missing one takes its default). Values declared as <c>object</c> (stream
/// items) carry their type's name. A type that plain JSON cannot round-trip carries its own
/// <see cref="JsonConverterAttribute"/>.
/// </summary>
public static class WireSerializer
{
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            IncludeFields = true,
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
            // Depth is bounded so that a hostile or broken peer cannot recurse the reader into a stack overflow.
            MaxDepth = 64,
        };
        options.Converters.Add(new TypedObjectConverter());
        options.Converters.Add(new SequenceTokenConverter());
        options.Converters.Add(new GrainIdConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>Moves a reader that is between values onto the next one (generated ReadArguments calls it per argument).</summary>
    public static void MoveToValue(ref Utf8JsonReader reader)
    {
        if (!reader.Read() || reader.TokenType == JsonTokenType.EndArray)
        {
            throw new JsonException("The request has fewer arguments than the method takes.");
        }
    }

    /// <summary>
    /// An <c>object</c> value as <c>["type name, assembly", value]</c>. Types resolve only among
    /// loaded assemblies, and only peers that passed the cluster handshake can send one.
    /// </summary>
    private sealed class TypedObjectConverter : JsonConverter<object>
    {
        private static readonly ConcurrentDictionary<string, Type> Resolved = new(StringComparer.Ordinal);
        private static readonly ConcurrentDictionary<Type, string> Names = new();

        public override bool HandleNull => false;

        public override object? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartArray || !reader.Read() || reader.TokenType != JsonTokenType.String)
            {
                throw new JsonException("A value declared as object must be written as [type, value].");
            }

            var type = Resolve(reader.GetString()!);
            reader.Read();
            var value = JsonSerializer.Deserialize(ref reader, type, options);
            if (!reader.Read() || reader.TokenType != JsonTokenType.EndArray)
            {
                throw new JsonException("A typed value has more than [type, value].");
            }

            return value;
        }

        public override void Write(Utf8JsonWriter writer, object value, JsonSerializerOptions options)
        {
            var type = value.GetType();
            if (type == typeof(object))
            {
                throw new NotSupportedException("A bare object cannot be sent to another process.");
            }

            writer.WriteStartArray();
            writer.WriteStringValue(Names.GetOrAdd(type, static t => $"{t.FullName}, {t.Assembly.GetName().Name}"));
            JsonSerializer.Serialize(writer, value, type, options);
            writer.WriteEndArray();
        }

        private static Type Resolve(string name) =>
            Resolved.TryGetValue(name, out var type) ? type
            : Resolved.GetOrAdd(name, static n => Type.GetType(n, throwOnError: false)
                is { } found && !typeof(Delegate).IsAssignableFrom(found) && found != typeof(object)
                    ? found
                    : throw new JsonException($"The type '{n}' of a received value is not known in this process (is it running another build?)."));
    }

    private sealed class SequenceTokenConverter : JsonConverter<StreamSequenceToken>
    {
        public override StreamSequenceToken Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            try
            {
                return StreamSequenceToken.Parse(reader.GetString() ?? throw new JsonException("A sequence token must be a string."));
            }
            catch (Exception exception) when (exception is FormatException or ArgumentException or OverflowException)
            {
                throw new JsonException(exception.Message, exception);
            }
        }

        public override void Write(Utf8JsonWriter writer, StreamSequenceToken value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }

    private sealed class GrainIdConverter : JsonConverter<GrainId>
    {
        public override GrainId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var text = reader.GetString() ?? throw new JsonException("A grain id must be a string.");
            var slash = text.IndexOf('/', StringComparison.Ordinal);
            return slash > 0 ? new GrainId(text[..slash], text[(slash + 1)..]) : throw new JsonException($"'{text}' is not a grain id (type/key).");
        }

        public override void Write(Utf8JsonWriter writer, GrainId value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
