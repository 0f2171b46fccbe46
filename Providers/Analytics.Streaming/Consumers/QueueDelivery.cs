namespace Analytics.Streaming;

/// <summary>
/// One batch for one consumer grain from one queue: items with positions from First to Last, in
/// order. Previous is the last position the queue's receiver delivered to this consumer since its
/// last checkpoint (null if none): a consumer whose watermark is behind it has lost effects.
/// </summary>
/// <remarks>
/// Direct consumers (<see cref="IQueueConsumer{T}"/>) get it as a grain call, one item per event
/// with <see cref="Positions"/>; stream consumers get it as the single event of an Orleans stream
/// batch, usually one combined payload and no per-item positions.
/// </remarks>
[GenerateSerializer, Immutable, Alias("Analytics.QueueDelivery`1")]
public sealed class QueueDelivery<T>
{
    [Id(0)]
    public required string Queue { get; init; }

    [Id(1)]
    public required QueuePosition First { get; init; }

    [Id(2)]
    public required QueuePosition Last { get; init; }

    [Id(3)]
    public QueuePosition? Previous { get; init; }

    [Id(4)]
    public required IReadOnlyList<T> Items { get; init; }

    /// <summary>Each item's position, when items are events rather than a combined payload.</summary>
    [Id(5)]
    public IReadOnlyList<QueuePosition>? Positions { get; init; }

    /// <summary>
    /// The last position this consumer confirmed durable at one of the receiver's checkpoints (null
    /// if none since the receiver started). An activation whose watermark is behind it is stale: a
    /// duplicate activation of the same grain wrote newer state since this one loaded.
    /// </summary>
    [Id(6)]
    public QueuePosition? Confirmed { get; init; }
}

public enum DeliveryStatus
{
    /// <summary>The consumer applied the whole delivery.</summary>
    Applied,

    /// <summary>Everything in it was applied before (a replay); nothing changed.</summary>
    AlreadyApplied,

    /// <summary>The consumer applied up to Watermark before; send again only the items after it.</summary>
    ResendAfter,

    /// <summary>The consumer's watermark is behind what it was sent before: it lost unflushed effects; replay from the checkpoint.</summary>
    Gap,
}

/// <summary>
/// What a consumer did with a delivery. Dropped lists the positions of items that later stages
/// must not see (duplicates); a consumer reports them for every item it can judge, replays
/// included, so that what later stages see does not depend on timing.
/// </summary>
[GenerateSerializer, Immutable, Alias("Analytics.DeliveryOutcome")]
public readonly record struct DeliveryOutcome(
    [property: Id(0)] DeliveryStatus Status,
    [property: Id(1)] QueuePosition? Watermark = null,
    [property: Id(2)] IReadOnlyList<QueuePosition>? Dropped = null);

/// <summary>The queue being checkpointed, the last position its receiver delivered to the consumer, and what the consumer confirmed before (see <see cref="QueueDelivery{T}.Confirmed"/>).</summary>
[GenerateSerializer, Immutable, Alias("Analytics.QueueCheckpointRequest")]
public sealed record QueueCheckpointRequest([property: Id(0)] string Queue, [property: Id(1)] QueuePosition LastDelivered, [property: Id(2)] QueuePosition? Confirmed = null);

/// <summary>What a consumer answers when a receiver wants to move its checkpoint.</summary>
public enum CheckpointAnswer
{
    /// <summary>Everything up to the request's position is applied and now durable.</summary>
    Flushed,

    /// <summary>Not everything up to the request's position has arrived yet (an Orleans stream delivery still in flight); ask again.</summary>
    Pending,

    /// <summary>The consumer lost effects it had not flushed: the receiver must replay from its checkpoint.</summary>
    Gap,
}

/// <summary>
/// Implemented by every consumer grain. A receiver moves its queue's checkpoint only after every
/// consumer it delivered to since the last one answered <see cref="CheckpointAnswer.Flushed"/>.
/// </summary>
[Alias("Analytics.IQueueCheckpointParticipant")]
public interface IQueueCheckpointParticipant : IGrainWithStringKey
{
    [Alias("OnCheckpoint")]
    Task<CheckpointAnswer> OnCheckpointAsync(QueueCheckpointRequest request);
}

/// <summary>
/// A consumer the receiver calls directly, before anything is published on Orleans streams,
/// because later stages depend on its answer (the source grains, which own deduplication, report
/// the duplicates that the metric grains must never see).
/// </summary>
[Alias("Analytics.IQueueConsumer`1")]
public interface IQueueConsumer<T> : IQueueCheckpointParticipant
{
    [Alias("OnNext")]
    Task<DeliveryOutcome> OnNextAsync(QueueDelivery<T> delivery);
}
