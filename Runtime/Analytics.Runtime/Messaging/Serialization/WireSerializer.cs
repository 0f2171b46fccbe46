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
        private const int MaxTypeNameChars = 512;

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

        private static Type Resolve(string name)
        {
            if (Resolved.TryGetValue(name, out var type))
            {
                return type;
            }

            // Checked before loading anything: a long name could nest generics deep enough to overflow the stack.
            if (name.Length > MaxTypeNameChars)
            {
                throw new JsonException($"A received value names a type of {name.Length} characters; at most {MaxTypeNameChars} are accepted.");
            }

            Type? found;
            try
            {
                found = Type.GetType(name, throwOnError: false);
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                throw new JsonException($"The type '{name}' of a received value cannot be loaded: {exception.Message}", exception);
            }

            if (found is null || !IsAllowed(found))
            {
                throw new JsonException($"The type '{name}' of a received value is not known in this process, or may not cross the wire (is the sender running another build?).");
            }

            return Resolved.GetOrAdd(name, found);
        }

        /// <summary>
        /// Only types of the core library and of this application's own assemblies (and generics and
        /// arrays of them) are made from received data, so a peer cannot make this process run the
        /// constructor or setters of an arbitrary library type.
        /// </summary>
        private static bool IsAllowed(Type type)
        {
            if (type.IsArray)
            {
                return type.GetArrayRank() == 1 && IsAllowed(type.GetElementType()!);
            }

            if (type == typeof(object) || typeof(Delegate).IsAssignableFrom(type) || type.IsPointer || type.IsByRef || type.ContainsGenericParameters)
            {
                return false;
            }

            var assembly = type.Assembly;
            var trusted = assembly == typeof(object).Assembly
                || assembly.IsDefined(typeof(Invocation.GeneratedGrainCodeAttribute), inherit: false)
                || (assembly.GetName().Name?.StartsWith("Analytics.", StringComparison.Ordinal) ?? false);
            return trusted && (!type.IsGenericType || type.GetGenericArguments().All(IsAllowed));
        }
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
