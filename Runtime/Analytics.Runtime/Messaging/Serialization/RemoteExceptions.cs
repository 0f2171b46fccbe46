using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json;
using Analytics.Runtime.Messaging.Network;

namespace Analytics.Runtime.Messaging.Serialization;

/// <summary>
/// Carries a grain method's exception back to the caller as {type, message, stack}, and rebuilds it
/// on the caller's side as the same exception type when this process knows the type and can make
/// one from a message, so that <c>catch (ArgumentException)</c> works across silos as within one.
/// Otherwise the caller gets a <see cref="RemoteRequestException"/> naming the remote type. The
/// remote stack trace is kept in <see cref="Exception.Data"/> under <see cref="RemoteStackTraceKey"/>.
/// </summary>
internal static class RemoteExceptions
{
    public const string RemoteStackTraceKey = "RemoteStackTrace";
    private const int MaxMessageChars = 16 * 1024;
    private const int MaxStackChars = 16 * 1024;
    private const int MaxTypeNameChars = 512;

    private static readonly ConcurrentDictionary<string, Func<string, Exception>?> Factories = new(StringComparer.Ordinal);

    public static void Write(Utf8JsonWriter writer, Exception exception)
    {
        var type = exception is RemoteRequestException remote ? remote.RemoteType : exception.GetType().AssemblyQualifiedNameWithoutVersion();
        writer.WriteStartObject();
        writer.WriteString("type", type);
        writer.WriteString("message", Truncate(exception.Message, MaxMessageChars));
        writer.WriteString("stack", Truncate(exception.StackTrace ?? string.Empty, MaxStackChars));
        writer.WriteEndObject();
    }

    public static Exception Read(ReadOnlySpan<byte> json)
    {
        string type = "unknown", message = string.Empty, stack = string.Empty;
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new WireFormatException("The remote exception is not a JSON object.");
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString();
            reader.Read();
            var value = reader.TokenType == JsonTokenType.String ? reader.GetString() ?? string.Empty : string.Empty;
            reader.Skip();
            switch (name)
            {
                case "type": type = value; break;
                case "message": message = value; break;
                case "stack": stack = value; break;
            }
        }

        var exception = Build(type, message);
        exception.Data[RemoteStackTraceKey] = stack;
        return exception;
    }

    private static Exception Build(string type, string message)
    {
        try
        {
            if (type.Length <= MaxTypeNameChars && Factories.GetOrAdd(type, FindFactory) is { } factory)
            {
                return factory(message);
            }
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // A type this process cannot load, or whose constructor refuses the message (AggregateException
            // with no inner exceptions): the caller still gets the remote type's name and message.
        }

        return new RemoteRequestException(type, message);
    }

    private static string AssemblyQualifiedNameWithoutVersion(this Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";

    /// <summary>Only exception types with a public constructor taking just a message (or message and inner exception).</summary>
    private static Func<string, Exception>? FindFactory(string typeName)
    {
        var type = Type.GetType(typeName, throwOnError: false);
        if (type is null || !typeof(Exception).IsAssignableFrom(type) || type.IsAbstract)
        {
            return null;
        }

        var constructors = type.GetConstructors(BindingFlags.Public | BindingFlags.Instance);
        // (message, inner) first: for ArgumentException and its kin, a lone string is the parameter name.
        var withInner = constructors.FirstOrDefault(c => c.GetParameters() is [{ ParameterType: var s }, { ParameterType: var e }]
            && s == typeof(string) && e == typeof(Exception));
        if (withInner is not null)
        {
            return message => (Exception)withInner.Invoke([message, null]);
        }

        var withMessage = constructors.FirstOrDefault(c => c.GetParameters() is [{ ParameterType: var s, Name: "message" }, .. var others]
            && s == typeof(string) && others.All(p => p.HasDefaultValue));
        if (withMessage is not null)
        {
            var defaults = withMessage.GetParameters().Skip(1).Select(p => p.DefaultValue).ToArray();
            return message => (Exception)withMessage.Invoke([message, .. defaults]);
        }

        return null;
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max];
}
