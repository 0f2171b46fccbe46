using Analytics.Grains;
using Analytics.Streaming;
using Orleans.Runtime;
using Orleans.Streams;

namespace Analytics.Client.Tests;

/// <summary>
/// What a queue's receiver offers the page handler, reduced to one page of a fresh queue: direct
/// deliveries to the source grains, and metric partials published on the silo's memory streams.
/// </summary>
internal sealed class SeedPageContext(string queue, IGrainFactory grains, IStreamProvider streams) : IQueuePageContext
{
    private readonly List<Task> _published = [];

    public string Queue => queue;

    public IGrainFactory GrainFactory => grains;

    public Task<DeliveryOutcome> DeliverAsync<T>(IQueueConsumer<T> consumer, IReadOnlyList<T> items, IReadOnlyList<QueuePosition> positions) =>
        consumer.OnNextAsync(new QueueDelivery<T>
        {
            Queue = queue,
            First = positions[0],
            Last = positions[^1],
            Items = items,
            Positions = positions,
        });

    public void Publish<T>(StreamId stream, T payload, QueuePosition first, QueuePosition last, IQueueCheckpointParticipant consumer) =>
        _published.Add(streams.GetStream<QueueDelivery<T>>(stream).OnNextAsync(new QueueDelivery<T>
        {
            Queue = queue,
            First = first,
            Last = last,
            Items = [payload],
        }));

    public Task PublishedAsync() => Task.WhenAll(_published);
}

internal static class Eventually
{
    public static async Task That(Func<Task<bool>> condition, string because, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Condition not met in time: {because}");
            }

            await Task.Delay(25);
        }
    }
}
