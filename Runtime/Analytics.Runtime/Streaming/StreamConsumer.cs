namespace Analytics.Runtime.Streaming;

/// <summary>
/// Subscribes a grain class to every stream of a namespace. The pulling agents activate the grain
/// whose key the stream key maps to and hand it each batch of the stream's items.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class ImplicitStreamSubscriptionAttribute(string streamNamespace) : Attribute
{
    public string Namespace { get; } = streamNamespace;

    /// <summary>An IStreamKeyMapper type that picks the grain key per item; by default the stream key.</summary>
    public Type? KeyMapper { get; init; }

    /// <summary>An IStreamItemCombiner type that reduces one grain's items of a batch to one payload.</summary>
    public Type? Combiner { get; init; }

    /// <summary>
    /// Subscriptions run in ascending order within a batch. Items that a consumer of an earlier
    /// order drops (say, duplicates found by the grain that owns the dedup state) are not handed
    /// to later orders.
    /// </summary>
    public int Order { get; init; }
}

/// <summary>Maps a stream item to the key of the grain that consumes it; null to skip the item.</summary>
public interface IStreamKeyMapper
{
    string? GetGrainKey(in StreamItem item);
}

/// <summary>
/// Combines one grain's share of a batch into a single payload before the call, so that the number
/// of grain calls per batch grows with distinct keys, not with events (hot keys stay cheap).
/// </summary>
public interface IStreamItemCombiner
{
    object Combine(string grainKey, IReadOnlyList<StreamItem> items);
}

/// <summary>
/// One batch for one grain from one queue: the items with tokens from First to Last, in order.
/// Previous is the last token this agent delivered to this grain since its last checkpoint (null
/// if none): a grain whose watermark is behind it has lost effects and must say so (Gap).
/// </summary>
public sealed class StreamDelivery
{
    public required string Queue { get; init; }

    public required string Namespace { get; init; }

    public required StreamSequenceToken First { get; init; }

    public required StreamSequenceToken Last { get; init; }

    public StreamSequenceToken? Previous { get; init; }

    /// <summary>The items' values, or one combined payload when the subscription has a combiner.</summary>
    public required IReadOnlyList<object> Items { get; init; }

    /// <summary>Each item's token (absent for combined payloads).</summary>
    public IReadOnlyList<StreamSequenceToken>? Tokens { get; init; }
}

public enum DeliveryStatus
{
    /// <summary>The grain applied the whole delivery.</summary>
    Applied,

    /// <summary>Everything in it was applied before (a replay); nothing changed.</summary>
    AlreadyApplied,

    /// <summary>The grain applied up to Watermark before; send again only the items after it.</summary>
    ResendAfter,

    /// <summary>The grain's watermark is behind what it was sent before: it lost unflushed effects; replay from the checkpoint.</summary>
    Gap,
}

/// <summary>
/// What a consumer did with a delivery. Dropped lists the tokens of items that later subscription
/// orders must not see; a consumer must report them for every item of the delivery it can judge,
/// including items it had applied before (a replay), so that the answer does not depend on timing.
/// </summary>
public readonly record struct DeliveryOutcome(DeliveryStatus Status, StreamSequenceToken? Watermark = null, IReadOnlyList<StreamSequenceToken>? Dropped = null);

/// <summary>
/// Implemented by grains with implicit subscriptions. Both calls are ordinary grain calls, so they
/// run as turns like any request.
/// </summary>
public interface IStreamConsumer : IGrainWithStringKey
{
    Task<DeliveryOutcome> OnNextAsync(StreamDelivery delivery);

    /// <summary>
    /// Makes every effect applied so far durable. Returns false, without flushing, when the grain's
    /// watermark for the queue is behind the last item the agent delivered to it: it lost effects
    /// it had not flushed (its silo died), so the agent must replay rather than move its
    /// checkpoint. The agent moves its checkpoint only after every grain it delivered to says true.
    /// </summary>
    Task<bool> OnCheckpointAsync(StreamCheckpointRequest request);
}

/// <summary>The queue being checkpointed and the last token its agent delivered to the grain.</summary>
public sealed record StreamCheckpointRequest(string Queue, StreamSequenceToken LastDelivered);
