using System.Globalization;
using Orleans.Streams;

namespace Analytics.Streaming;

/// <summary>
/// The Orleans sequence token of a <see cref="QueueBatchContainer"/>. A receiver that rewinds
/// replays positions it has handed out before, but Orleans' cache and cursors need tokens that
/// only grow, so the token orders by the receiver's epoch (one more on every rewind) first, then
/// by the queue position of the page the batch came from, then by the batch's ordinal (batches of
/// one page share the page's position). <see cref="SequenceNumber"/> is the ordinal, which grows
/// with every batch a receiver creates: Orleans compares SequenceNumber where it does not call
/// CompareTo, and a Kinesis sequence number does not fit a long anyway.
/// </summary>
[GenerateSerializer, Immutable, Alias("Analytics.QueueSequenceToken")]
public sealed class QueueSequenceToken : StreamSequenceToken
{
    public QueueSequenceToken(int epoch, QueuePosition position, long ordinal, int eventIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfNegative(ordinal);
        Epoch = epoch;
        Position = position;
        SequenceNumber = ordinal;
        EventIndex = eventIndex;
    }

    /// <summary>How many times the receiver had rewound when it created the batch.</summary>
    [Id(0)]
    public int Epoch { get; private set; }

    /// <summary>The position of the last record of the page the batch was published from.</summary>
    [Id(1)]
    public QueuePosition Position { get; private set; }

    /// <summary>The batch's ordinal in its receiver: grows with every batch, across rewinds.</summary>
    [Id(2)]
    public override long SequenceNumber { get; protected set; }

    [Id(3)]
    public override int EventIndex { get; protected set; }

    /// <summary>The token of one event of the batch.</summary>
    public QueueSequenceToken ForEvent(int eventIndex) => new(Epoch, Position, SequenceNumber, eventIndex);

    public override int CompareTo(StreamSequenceToken? other)
    {
        if (other is null)
        {
            return 1;
        }

        if (other is not QueueSequenceToken token)
        {
            throw new ArgumentException($"A {nameof(QueueSequenceToken)} cannot be compared with a {other.GetType().Name}.", nameof(other));
        }

        var byEpoch = Epoch.CompareTo(token.Epoch);
        if (byEpoch != 0)
        {
            return byEpoch;
        }

        var byPosition = Position.CompareTo(token.Position);
        if (byPosition != 0)
        {
            return byPosition;
        }

        var byOrdinal = SequenceNumber.CompareTo(token.SequenceNumber);
        return byOrdinal != 0 ? byOrdinal : EventIndex.CompareTo(token.EventIndex);
    }

    public override bool Equals(StreamSequenceToken? other) =>
        other is QueueSequenceToken token
        && token.Epoch == Epoch
        && token.Position == Position
        && token.SequenceNumber == SequenceNumber
        && token.EventIndex == EventIndex;

    public override bool Equals(object? obj) => Equals(obj as StreamSequenceToken);

    public override int GetHashCode() => HashCode.Combine(Epoch, Position, SequenceNumber, EventIndex);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[{nameof(QueueSequenceToken)}: Epoch={Epoch}, Position={Position}, Ordinal={SequenceNumber}, EventIndex={EventIndex}]");
}
