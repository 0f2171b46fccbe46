using System.Globalization;

namespace Analytics.Runtime.Streaming;

/// <summary>A stream: a namespace (what kind of data) and a key (whose data).</summary>
public readonly record struct StreamId(string Namespace, string Key)
{
    public override string ToString() => $"{Namespace}/{Key}";
}

/// <summary>One queue of a stream provider: a local-log partition or a Kinesis shard.</summary>
public readonly record struct QueueId(string Provider, string Name)
{
    public ulong StableHash => StableHashing.Hash(Provider, Name);

    public override string ToString() => $"{Provider}:{Name}";
}

/// <summary>
/// A position in one queue: a sequence number (decimal digits, as wide as the queue needs; Kinesis
/// sequence numbers have more digits than any integer type holds) and a sub-sequence for the
/// several items one record holds. Ordered by sequence, then sub-sequence.
/// </summary>
public readonly struct StreamSequenceToken : IComparable<StreamSequenceToken>, IEquatable<StreamSequenceToken>
{
    public StreamSequenceToken(string sequence, int subSequence = 0)
    {
        if (string.IsNullOrEmpty(sequence) || !sequence.All(char.IsAsciiDigit) || (sequence.Length > 1 && sequence[0] == '0'))
        {
            throw new ArgumentException($"'{sequence}' is not a sequence number (decimal digits without leading zeros).", nameof(sequence));
        }

        Sequence = sequence;
        SubSequence = subSequence;
    }

    public StreamSequenceToken(long sequence, int subSequence = 0)
        : this(sequence.ToString(CultureInfo.InvariantCulture), subSequence)
    {
    }

    public string Sequence { get; }

    public int SubSequence { get; }

    public int CompareTo(StreamSequenceToken other)
    {
        var bySequence = CompareSequences(Sequence, other.Sequence);
        return bySequence != 0 ? bySequence : SubSequence.CompareTo(other.SubSequence);
    }

    /// <summary>Compares decimal strings without leading zeros: the longer is larger, then digit by digit.</summary>
    public static int CompareSequences(string a, string b) =>
        a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b);

    public bool Equals(StreamSequenceToken other) => SubSequence == other.SubSequence && string.Equals(Sequence, other.Sequence, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is StreamSequenceToken other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Sequence, SubSequence);

    public override string ToString() => SubSequence == 0 ? Sequence : $"{Sequence}.{SubSequence.ToString(CultureInfo.InvariantCulture)}";

    public static StreamSequenceToken Parse(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        return dot < 0
            ? new StreamSequenceToken(text)
            : new StreamSequenceToken(text[..dot], int.Parse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture));
    }

    public static bool operator <(StreamSequenceToken left, StreamSequenceToken right) => left.CompareTo(right) < 0;

    public static bool operator >(StreamSequenceToken left, StreamSequenceToken right) => left.CompareTo(right) > 0;

    public static bool operator <=(StreamSequenceToken left, StreamSequenceToken right) => left.CompareTo(right) <= 0;

    public static bool operator >=(StreamSequenceToken left, StreamSequenceToken right) => left.CompareTo(right) >= 0;

    public static bool operator ==(StreamSequenceToken left, StreamSequenceToken right) => left.Equals(right);

    public static bool operator !=(StreamSequenceToken left, StreamSequenceToken right) => !left.Equals(right);
}

/// <summary>A record as a queue stores it: which stream it was appended to, its bytes and its position.</summary>
public sealed record QueueRecord(StreamId Stream, ReadOnlyMemory<byte> Data, StreamSequenceToken Token);

/// <summary>One decoded item of a record, with its own position (the record's sequence, the item's index as sub-sequence).</summary>
public readonly record struct StreamItem(StreamId Stream, object Value, StreamSequenceToken Token);
