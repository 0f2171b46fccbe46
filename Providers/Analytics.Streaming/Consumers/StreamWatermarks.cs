namespace Analytics.Streaming;

/// <summary>
/// The per-queue positions a consumer grain has applied, kept in its persisted state. With them a
/// grain applies each item exactly once however often a receiver replays (see ARCHITECTURE.md,
/// "Exactly-once delivery").
/// </summary>
/// <remarks>Serializable by Orleans too, for grain storage that uses Orleans' serializer (the memory store).</remarks>
[GenerateSerializer, Alias("Analytics.StreamWatermarks")]
public sealed class StreamWatermarks
{
    /// <summary>Queue name to the position of the last item applied (as text, for storage).</summary>
    [Id(0)]
    public Dictionary<string, string> Applied { get; set; } = new(StringComparer.Ordinal);

    public QueuePosition? Get(string queue) =>
        Applied.TryGetValue(queue, out var text) ? QueuePosition.Parse(text) : null;

    /// <summary>Decides what to do with a delivery. Applied means: apply it, then call <see cref="Advance{T}"/>.</summary>
    public DeliveryOutcome Check<T>(QueueDelivery<T> delivery)
    {
        if (Get(delivery.Queue) is not { } watermark)
        {
            // Never applied anything from this queue, yet the receiver sent us something before:
            // those effects were lost before they were flushed.
            return delivery.Previous is null ? new DeliveryOutcome(DeliveryStatus.Applied) : new DeliveryOutcome(DeliveryStatus.Gap);
        }

        if (delivery.Last <= watermark)
        {
            return new DeliveryOutcome(DeliveryStatus.AlreadyApplied, watermark);
        }

        if (delivery.Previous is { } previous && watermark < previous)
        {
            return new DeliveryOutcome(DeliveryStatus.Gap, watermark);
        }

        return delivery.First > watermark
            ? new DeliveryOutcome(DeliveryStatus.Applied)
            : new DeliveryOutcome(DeliveryStatus.ResendAfter, watermark);
    }

    /// <summary>
    /// True when this state is older than what the consumer already confirmed durable to the
    /// receiver: it was loaded before another activation of the grain wrote, so neither its
    /// effects nor its answers (such as the duplicates it drops) may be trusted.
    /// </summary>
    public bool IsBehind(string queue, QueuePosition? confirmed) =>
        confirmed is { } c && (Get(queue) is not { } watermark || watermark < c);

    public void Advance<T>(QueueDelivery<T> delivery) => Applied[delivery.Queue] = delivery.Last.ToString();

    /// <summary>True when everything the receiver delivered (up to the request's position) has been applied.</summary>
    public bool Covers(QueueCheckpointRequest request) => Get(request.Queue) is { } watermark && watermark >= request.LastDelivered;
}
