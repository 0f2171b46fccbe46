using System.Globalization;

namespace Analytics.Streaming;

/// <summary>
/// A position in one queue: a sequence number (decimal digits, as wide as the queue needs; Kinesis
/// sequence numbers have more digits than any integer type holds) and a sub-sequence for the
/// several items one record holds. Ordered by sequence, then sub-sequence. Consumer grains keep
/// these in their state as watermarks; <see cref="QueueSequenceToken"/> wraps one for Orleans.
/// </summary>
[GenerateSerializer, Immutable, Alias("Analytics.QueuePosition")]
public readonly struct QueuePosition : IComparable<QueuePosition>, IEquatable<QueuePosition>
{
    public QueuePosition(string sequence, int subSequence = 0)
    {
        // A span search, not LINQ: positions are made per event, and Kinesis' have 56 digits.
        if (string.IsNullOrEmpty(sequence) || sequence.AsSpan().ContainsAnyExceptInRange('0', '9') || (sequence.Length > 1 && sequence[0] == '0'))
        {
            throw new ArgumentException($"'{sequence}' is not a sequence number (decimal digits without leading zeros).", nameof(sequence));
        }

        Sequence = sequence;
        SubSequence = subSequence;
    }

    // Checked already: the sequence of an existing position.
    private QueuePosition(int subSequence, string sequence)
    {
        Sequence = sequence;
        SubSequence = subSequence;
    }

    public QueuePosition(long sequence, int subSequence = 0)
        : this(sequence.ToString(CultureInfo.InvariantCulture), subSequence)
    {
    }

    [Id(0)]
    public string Sequence { get; }

    [Id(1)]
    public int SubSequence { get; }

    public int CompareTo(QueuePosition other)
    {
        var bySequence = CompareSequences(Sequence, other.Sequence);
        return bySequence != 0 ? bySequence : SubSequence.CompareTo(other.SubSequence);
    }

    /// <summary>The same sequence at another sub-sequence (an item of the record this position names).</summary>
    public QueuePosition WithSubSequence(int subSequence) => new(subSequence, Sequence);

    /// <summary>Compares decimal strings without leading zeros: the longer is larger, then digit by digit.</summary>
    public static int CompareSequences(string a, string b) =>
        a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b);

    public bool Equals(QueuePosition other) => SubSequence == other.SubSequence && string.Equals(Sequence, other.Sequence, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is QueuePosition other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Sequence, SubSequence);

    public override string ToString() => SubSequence == 0 ? Sequence : $"{Sequence}.{SubSequence.ToString(CultureInfo.InvariantCulture)}";

    public static QueuePosition Parse(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        return dot < 0
            ? new QueuePosition(text)
            : new QueuePosition(text[..dot], int.Parse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture));
    }

    public static bool operator <(QueuePosition left, QueuePosition right) => left.CompareTo(right) < 0;

    public static bool operator >(QueuePosition left, QueuePosition right) => left.CompareTo(right) > 0;

    public static bool operator <=(QueuePosition left, QueuePosition right) => left.CompareTo(right) <= 0;

    public static bool operator >=(QueuePosition left, QueuePosition right) => left.CompareTo(right) >= 0;

    public static bool operator ==(QueuePosition left, QueuePosition right) => left.Equals(right);

    public static bool operator !=(QueuePosition left, QueuePosition right) => !left.Equals(right);
}
