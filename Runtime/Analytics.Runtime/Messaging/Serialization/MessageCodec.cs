using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Analytics.Runtime.Invocation;

namespace Analytics.Runtime.Messaging.Serialization;

/// <summary>A decoded request: what to call, on which grain, and for which silo generation.</summary>
public readonly record struct IncomingRequest(GrainId GrainId, GrainInvokable Request, int HopCount, long TargetGeneration);

/// <summary>
/// The payloads of request and response frames.
/// <para>Request: version (1 byte), hop count (1), target silo generation (8; 0 = whichever silo
/// listens there, as for gateways), method wire id (8), grain type (2-byte length + UTF-8), grain
/// key (4-byte length + UTF-8), then the arguments as a JSON array.</para>
/// <para>Response: status (1 byte: 0 result, 1 exception), then the result as JSON or the exception
/// as {type, message, stack}.</para>
/// All integers little-endian. The version byte lets a later build change the layout and refuse
/// what it cannot read, rather than misread it.
/// </summary>
public static class MessageCodec
{
    public const byte Version = 1;
    private const byte StatusResult = 0;
    private const byte StatusException = 1;
    private const int FixedHeader = 1 + 1 + 8 + 8;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_json;

    public static byte[] EncodeRequest(GrainId grainId, GrainInvokable request, int hopCount, long targetGeneration)
    {
        var (buffer, json) = Rent();
        var typeLength = Encoding.UTF8.GetByteCount(grainId.Type);
        var keyLength = Encoding.UTF8.GetByteCount(grainId.Key);
        var header = buffer.GetSpan(FixedHeader + 2 + typeLength + 4 + keyLength);
        header[0] = Version;
        header[1] = (byte)Math.Min(hopCount, byte.MaxValue);
        BinaryPrimitives.WriteInt64LittleEndian(header[2..], targetGeneration);
        BinaryPrimitives.WriteUInt64LittleEndian(header[10..], request.Method.WireId);
        BinaryPrimitives.WriteUInt16LittleEndian(header[FixedHeader..], checked((ushort)typeLength));
        Encoding.UTF8.GetBytes(grainId.Type, header[(FixedHeader + 2)..]);
        BinaryPrimitives.WriteInt32LittleEndian(header[(FixedHeader + 2 + typeLength)..], keyLength);
        Encoding.UTF8.GetBytes(grainId.Key, header[(FixedHeader + 6 + typeLength)..]);
        buffer.Advance(FixedHeader + 6 + typeLength + keyLength);

        json.WriteStartArray();
        request.WriteArguments(json, WireSerializer.Options);
        json.WriteEndArray();
        json.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A probe: a request header with method id 0 and nothing after it, answered with an empty response.</summary>
    public static byte[] EncodePing(long targetGeneration)
    {
        var payload = new byte[FixedHeader];
        payload[0] = Version;
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(2), targetGeneration);
        return payload;
    }

    public static bool IsPing(ReadOnlySpan<byte> payload, out long targetGeneration)
    {
        var ping = payload.Length == FixedHeader && payload[0] == Version && BinaryPrimitives.ReadUInt64LittleEndian(payload[10..]) == 0;
        targetGeneration = ping ? BinaryPrimitives.ReadInt64LittleEndian(payload[2..]) : 0;
        return ping;
    }

    /// <summary>The silo generation a request is meant for (0: any), read without decoding the rest.</summary>
    public static long ReadTargetGeneration(ReadOnlySpan<byte> payload) =>
        payload.Length >= FixedHeader ? BinaryPrimitives.ReadInt64LittleEndian(payload[2..]) : 0;

    /// <summary>Throws <see cref="WireFormatException"/> for anything malformed or unknown, naming what.</summary>
    public static IncomingRequest DecodeRequest(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < FixedHeader + 6)
        {
            throw new WireFormatException($"A request of {payload.Length} bytes is shorter than its header.");
        }

        if (payload[0] != Version)
        {
            throw new WireFormatException($"The request is in wire format version {payload[0]}; this silo reads version {Version}.");
        }

        var hopCount = payload[1];
        var generation = BinaryPrimitives.ReadInt64LittleEndian(payload[2..]);
        var wireId = BinaryPrimitives.ReadUInt64LittleEndian(payload[10..]);
        var rest = payload[FixedHeader..];
        var type = ReadString(ref rest, BinaryPrimitives.ReadUInt16LittleEndian(rest), 2);
        var key = ReadString(ref rest, rest.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(rest) : -1, 4);
        var request = GrainCodeRegistry.CreateInvokable(wireId)
            ?? throw new WireFormatException($"The request calls a grain method (wire id {wireId:x16}) that this silo does not have; caller and silo run different builds of the grain interfaces.");
        try
        {
            var reader = new Utf8JsonReader(rest, new JsonReaderOptions { MaxDepth = WireSerializer.Options.MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                throw new JsonException("The arguments are not a JSON array.");
            }

            request.ReadArguments(ref reader, WireSerializer.Options);
            if (!reader.Read() || reader.TokenType != JsonTokenType.EndArray)
            {
                throw new JsonException("The request has more arguments than the method takes.");
            }

            return new IncomingRequest(new GrainId(type, key), request, hopCount, generation);
        }
        catch (Exception exception) when (exception is not (WireFormatException or OutOfMemoryException))
        {
            // Whatever the received bytes made a converter or constructor throw, the caller learns it as one kind of error.
            throw new WireFormatException($"The arguments of {request.Method} could not be read: {exception.Message}", exception);
        }
    }

    /// <summary>Encodes the outcome of a completed method task: its result, or its exception.</summary>
    public static byte[] EncodeResponse(GrainInvokable request, Task completed)
    {
        var (buffer, json) = Rent();
        if (completed.IsCompletedSuccessfully)
        {
            try
            {
                buffer.GetSpan(1)[0] = StatusResult;
                buffer.Advance(1);
                request.WriteResult(completed, json, WireSerializer.Options);
                json.Flush();
                return buffer.WrittenSpan.ToArray();
            }
            catch (Exception exception) when (exception is JsonException or NotSupportedException)
            {
                (buffer, json) = Rent();
                completed = Task.FromException(new NotSupportedException($"The result of {request.Method} could not be serialized: {exception.Message}", exception));
            }
        }

        var error = completed.IsCanceled
            ? new OperationCanceledException($"{request.Method} was cancelled.")
            : completed.Exception!.InnerExceptions.Count == 1 ? completed.Exception.InnerException! : completed.Exception;
        return EncodeException(error);
    }

    /// <summary>
    /// A response that fails the caller's call with <paramref name="exception"/> (rebuilt as its own
    /// type), for a request refused before it was decoded: the caller's retry logic then sees, say,
    /// a <see cref="SiloUnavailableException"/> rather than an opaque protocol error.
    /// </summary>
    public static byte[] EncodeException(Exception exception)
    {
        var (buffer, json) = Rent();
        buffer.GetSpan(1)[0] = StatusException;
        buffer.Advance(1);
        RemoteExceptions.Write(json, exception);
        json.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The task the caller awaits: the result, or the remote exception rebuilt as closely as this process can.</summary>
    public static Task DecodeResponse(GrainInvokable request, ReadOnlySpan<byte> payload)
    {
        try
        {
            return payload.IsEmpty ? throw new WireFormatException("The response is empty.")
                : payload[0] == StatusResult ? request.ReadResult(payload[1..], WireSerializer.Options)
                : payload[0] == StatusException ? request.FromException(RemoteExceptions.Read(payload[1..]))
                : throw new WireFormatException($"The response has an unknown status {payload[0]}.");
        }
        catch (WireFormatException exception)
        {
            return request.FromException(exception);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            return request.FromException(new WireFormatException($"The response of {request.Method} could not be read: {exception.Message}", exception));
        }
    }

    private static string ReadString(ref ReadOnlySpan<byte> rest, int length, int prefix)
    {
        if (length < 0 || rest.Length < prefix + (long)length)
        {
            throw new WireFormatException("The request's grain id is truncated.");
        }

        var text = Encoding.UTF8.GetString(rest.Slice(prefix, length));
        rest = rest[(prefix + length)..];
        return text;
    }

    private static (ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Json) Rent()
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        if (buffer.Capacity > 1024 * 1024)
        {
            // One huge message must not pin a huge buffer to the thread for good.
            buffer = t_buffer = new ArrayBufferWriter<byte>(1024);
        }

        var json = t_json ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = false, MaxDepth = WireSerializer.Options.MaxDepth });
        json.Reset(buffer);
        return (buffer, json);
    }
}

/// <summary>A message that this process cannot read: malformed, another wire version, or a method it does not have.</summary>
public sealed class WireFormatException(string message, Exception? inner = null) : Exception(message, inner);
