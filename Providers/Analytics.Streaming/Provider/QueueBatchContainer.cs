using Orleans.Runtime;
using Orleans.Streams;

namespace Analytics.Streaming;

/// <summary>
/// One published <see cref="QueueDelivery{T}"/> on its way through Orleans' cache and pulling
/// agent to the stream's implicit subscriber: a batch of exactly one event, so that the consumer
/// applies (or skips) the whole delivery against its watermark at once.
/// </summary>
[GenerateSerializer, Immutable, Alias("Analytics.QueueBatchContainer")]
public sealed class QueueBatchContainer(StreamId streamId, object delivery, QueueSequenceToken token) : IBatchContainer
{
    [Id(0)]
    public StreamId StreamId { get; } = streamId;

    /// <summary>A <see cref="QueueDelivery{T}"/>.</summary>
    [Id(1)]
    public object Delivery { get; } = delivery;

    [Id(2)]
    public QueueSequenceToken Token { get; } = token;

    public StreamSequenceToken SequenceToken => Token;

    public IEnumerable<Tuple<T, StreamSequenceToken>> GetEvents<T>()
    {
        if (Delivery is T delivery)
        {
            yield return Tuple.Create<T, StreamSequenceToken>(delivery, Token.ForEvent(0));
        }
    }

    // Deliveries carry no request context: consumers take everything from the delivery itself.
    public bool ImportRequestContext() => false;

    public override string ToString() => $"{nameof(QueueBatchContainer)}({StreamId}, {Token})";
}
