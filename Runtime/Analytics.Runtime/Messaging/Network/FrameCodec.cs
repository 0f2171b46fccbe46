using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>What a frame carries. Values are on the wire: never renumber.</summary>
public enum FrameKind : byte
{
    /// <summary>Acceptor → connector, first frame: version, cluster id, nonce.</summary>
    Challenge = 1,

    /// <summary>Connector → acceptor, first frame: version, cluster id, nonce, proof of the secret.</summary>
    Hello = 2,

    /// <summary>Acceptor → connector: accepted, with the acceptor's own proof.</summary>
    Welcome = 3,

    /// <summary>Acceptor → connector: refused, with a reason; the acceptor closes after it.</summary>
    Refused = 4,

    Request = 5,
    Response = 6,

    /// <summary>Response to a request whose handler failed: remote exception type and message.</summary>
    Error = 7,

    /// <summary>The sender is closing the connection; payload is the reason (UTF-8).</summary>
    Goodbye = 8,
}

internal readonly record struct FrameHeader(FrameKind Kind, long CorrelationId, int PayloadLength);

/// <summary>
/// A frame is: payload length (4 bytes, little-endian, header excluded), kind (1 byte),
/// correlation id (8 bytes, little-endian), payload. The fixed-size header lets a reader reject an
/// oversized frame from its first bytes, before buffering any of it.
/// </summary>
internal static class FrameCodec
{
    public const int HeaderSize = 13;

    /// <summary>
    /// Parses one whole frame off the front of <paramref name="buffer"/> without copying. False if
    /// it is not all there yet. Throws <see cref="FrameProtocolException"/> on a bad header.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, int maxPayload, out FrameHeader header, out ReadOnlySequence<byte> payload)
    {
        header = default;
        payload = default;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadLittleEndian(out int length))
        {
            return false;
        }

        if ((uint)length > (uint)maxPayload)
        {
            throw new FrameTooLargeException($"A frame of {(uint)length} bytes exceeds the maximum frame size of {maxPayload} bytes.");
        }

        if (!reader.TryRead(out var kind) || !reader.TryReadLittleEndian(out long correlationId))
        {
            return false;
        }

        if (!Enum.IsDefined((FrameKind)kind))
        {
            throw new FrameProtocolException($"Unknown frame kind {kind}.");
        }

        if (reader.Remaining < length)
        {
            return false;
        }

        payload = buffer.Slice(HeaderSize, length);
        buffer = buffer.Slice(payload.End);
        header = new FrameHeader((FrameKind)kind, correlationId, length);
        return true;
    }

    public static void Write(IBufferWriter<byte> writer, FrameKind kind, long correlationId, ReadOnlySpan<byte> payload)
    {
        var header = writer.GetSpan(HeaderSize);
        BinaryPrimitives.WriteInt32LittleEndian(header, payload.Length);
        header[4] = (byte)kind;
        BinaryPrimitives.WriteInt64LittleEndian(header[5..], correlationId);
        writer.Advance(HeaderSize);
        writer.Write(payload);
    }

    /// <summary>
    /// Reads one frame and copies its payload out (for the handshake and tests, where frames are
    /// few). Null at a clean end of stream; a stream that ends mid-frame is a protocol error.
    /// </summary>
    public static async ValueTask<(FrameHeader Header, byte[] Payload)?> ReadOneAsync(PipeReader input, int maxPayload, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            try
            {
                if (TryRead(ref buffer, maxPayload, out var header, out var payload))
                {
                    consumed = buffer.Start;
                    return (header, payload.ToArray());
                }

                if (result.IsCompleted)
                {
                    return buffer.IsEmpty ? null : throw Truncated(buffer.Length);
                }

                if (result.IsCanceled)
                {
                    throw new OperationCanceledException(cancellationToken);
                }
            }
            finally
            {
                input.AdvanceTo(consumed, buffer.End);
            }
        }
    }

    public static FrameProtocolException Truncated(long bytes) =>
        new($"The stream ended in the middle of a frame ({bytes} bytes of it received).");
}
