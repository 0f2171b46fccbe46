using System.Buffers;

namespace Analytics.Aws.Kinesis;

/// <summary>
/// The few pieces of the protobuf wire format that KPL aggregation uses: varints and
/// length-delimited fields. Hand-written because a Google.Protobuf recent enough for our other
/// packages is not on our feed, and these messages are too small to justify generated code.
/// </summary>
internal static class ProtobufWire
{
    public const int WireVarint = 0;
    public const int WireFixed64 = 1;
    public const int WireLengthDelimited = 2;
    public const int WireFixed32 = 5;

    public static void WriteTag(IBufferWriter<byte> writer, int field, int wireType) =>
        WriteVarint(writer, ((ulong)field << 3) | (uint)wireType);

    public static void WriteVarint(IBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(10);
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[i++] = (byte)value;
        writer.Advance(i);
    }

    public static void WriteBytes(IBufferWriter<byte> writer, int field, ReadOnlySpan<byte> value)
    {
        WriteTag(writer, field, WireLengthDelimited);
        WriteVarint(writer, (ulong)value.Length);
        writer.Write(value);
    }
}

/// <summary>
/// Reads protobuf fields from a buffer. Every method fails (returns false) on truncated or
/// malformed input instead of throwing, so that a corrupt record is reported, not crashed on.
/// </summary>
internal ref struct ProtobufReader(ReadOnlySpan<byte> buffer)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;
    private int _position;

    public readonly bool AtEnd => _position >= _buffer.Length;

    /// <summary>Where the next read starts: a length-delimited value just read ends here, which lets callers slice their own memory instead of copying.</summary>
    public readonly int Position => _position;

    public bool TryReadTag(out int field, out int wireType)
    {
        field = 0;
        wireType = 0;
        if (!TryReadVarint(out var tag) || tag >> 3 is 0 or > int.MaxValue)
        {
            return false;
        }

        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        return true;
    }

    public bool TryReadVarint(out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _buffer.Length)
            {
                return false;
            }

            var b = _buffer[_position++];
            // The tenth byte may only carry the top bit of a 64-bit value.
            if (shift == 63 && b > 1)
            {
                return false;
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    public bool TryReadLengthDelimited(out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!TryReadVarint(out var length) || length > (ulong)(_buffer.Length - _position))
        {
            return false;
        }

        value = _buffer.Slice(_position, (int)length);
        _position += (int)length;
        return true;
    }

    /// <summary>Skips a field this reader does not know, as protobuf requires. Groups (wire types 3 and 4) are not accepted.</summary>
    public bool TrySkip(int wireType)
    {
        switch (wireType)
        {
            case ProtobufWire.WireVarint:
                return TryReadVarint(out _);
            case ProtobufWire.WireFixed64:
                return TryAdvance(8);
            case ProtobufWire.WireLengthDelimited:
                return TryReadLengthDelimited(out _);
            case ProtobufWire.WireFixed32:
                return TryAdvance(4);
            default:
                return false;
        }
    }

    private bool TryAdvance(int count)
    {
        if (_buffer.Length - _position < count)
        {
            return false;
        }

        _position += count;
        return true;
    }
}
