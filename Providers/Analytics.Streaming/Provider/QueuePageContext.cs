using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Storage;

namespace Analytics.Streaming;

/// <summary>
/// What a receiver offers its page handler for one page: direct deliveries with Previous
/// tracking, resends after watermarks, retries and dead letters, and publications that become
/// batch containers for Orleans' pulling agent. Everything delivered or published is recorded for
/// the next checkpoint.
/// </summary>
internal sealed partial class QueuePageContext(CheckpointingQueueReceiver receiver, QueuePage page, QueuePosition pageEnd) : IQueuePageContext
{
    private readonly ILogger _logger = receiver.Logger;

    public string Queue => page.Queue;

    public IGrainFactory GrainFactory => receiver.GrainFactory;

    /// <summary>The batch containers published for this page, in order.</summary>
    public List<QueueBatchContainer> Published { get; } = [];

    public async Task<DeliveryOutcome> DeliverAsync<T>(IQueueConsumer<T> consumer, IReadOnlyList<T> items, IReadOnlyList<QueuePosition> positions)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        if (items.Count != positions.Count)
        {
            throw new ArgumentException($"{items.Count} items come with {positions.Count} positions.", nameof(positions));
        }

        if (items.Count == 0)
        {
            return new DeliveryOutcome(DeliveryStatus.AlreadyApplied);
        }

        var target = consumer.GetGrainId();
        var previous = receiver.Tracker.PreviousFor(target);
        var confirmed = receiver.Tracker.ConfirmedFor(target);
        var remainingItems = items;
        var remainingPositions = positions;
        List<QueuePosition>? dropped = null;
        var failures = 0;
        while (true)
        {
            if (receiver.Stopping)
            {
                // This page counts as not delivered, so no checkpoint passes it and whoever reads
                // the queue next replays it (consumers skip what they applied).
                return new DeliveryOutcome(DeliveryStatus.Gap);
            }

            DeliveryOutcome outcome;
            try
            {
                receiver.Statistics.AddDirectCall();
                outcome = await consumer.OnNextAsync(new QueueDelivery<T>
                {
                    Queue = Queue,
                    First = remainingPositions[0],
                    Last = remainingPositions[^1],
                    Previous = previous,
                    Confirmed = confirmed,
                    Items = remainingItems,
                    Positions = remainingPositions,
                });
            }
            catch (Exception) when (receiver.Stopping)
            {
                return new DeliveryOutcome(DeliveryStatus.Gap);
            }
            catch (Exception exception) when (IsTransient(exception))
            {
                // The consumer's silo is gone or busy: placement finds it a new home; keep trying.
                LogDeliveryRetry(exception, target, Queue);
                await receiver.DelayAsync(receiver.Backoff(++failures));
                continue;
            }
            catch (Exception exception)
            {
                if (++failures < receiver.Options.MaxDeliveryAttempts)
                {
                    LogDeliveryRetry(exception, target, Queue);
                    await receiver.DelayAsync(receiver.Backoff(failures));
                    continue;
                }

                // The consumer keeps failing on this data: keep the records aside rather than
                // block the queue. The consumer is not recorded as delivered to, so its next
                // delivery's Previous does not claim what it never applied.
                await receiver.DeadLetterAsync(page.Records, remainingPositions, $"delivery to {target} failed {failures} times: {exception.GetType().Name}: {exception.Message}");
                (dropped ??= []).AddRange(remainingPositions);
                receiver.Statistics.AddDropped(remainingPositions.Count);
                return new DeliveryOutcome(DeliveryStatus.Applied, Dropped: dropped);
            }

            if (outcome.Dropped is { Count: > 0 } droppedNow)
            {
                (dropped ??= []).AddRange(droppedNow);
                receiver.Statistics.AddDropped(droppedNow.Count);
            }

            switch (outcome.Status)
            {
                case DeliveryStatus.ResendAfter when outcome.Watermark is { } watermark:
                    (remainingItems, remainingPositions) = After(remainingItems, remainingPositions, watermark);

                    // The rest follows on what the consumer said it holds: should it reach another
                    // activation of the grain, one that holds less, that one reports a gap.
                    previous = watermark;
                    if (remainingItems.Count == 0)
                    {
                        receiver.Tracker.Delivered(consumer, positions[^1]);
                        return new DeliveryOutcome(DeliveryStatus.AlreadyApplied, watermark, dropped);
                    }

                    continue;
                case DeliveryStatus.ResendAfter:
                case DeliveryStatus.Gap:
                    LogGap(target, Queue, outcome.Watermark?.ToString() ?? "none", previous?.ToString() ?? "none");
                    return outcome with { Status = DeliveryStatus.Gap, Dropped = dropped };
                default:
                    receiver.Tracker.Delivered(consumer, positions[^1]);
                    return outcome with { Dropped = dropped };
            }
        }
    }

    public void Publish<T>(StreamId stream, T payload, QueuePosition first, QueuePosition last, IQueueCheckpointParticipant consumer)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        if (last < first)
        {
            throw new ArgumentException($"A delivery cannot end ({last}) before it starts ({first}).", nameof(last));
        }

        var delivery = new QueueDelivery<T>
        {
            Queue = Queue,
            First = first,
            Last = last,
            Previous = receiver.Tracker.PreviousFor(stream),
            Confirmed = receiver.Tracker.ConfirmedFor(consumer.GetGrainId()),
            Items = [payload],
        };
        receiver.Tracker.Published(stream, last, consumer);
        Published.Add(new QueueBatchContainer(stream, delivery, receiver.NextToken(pageEnd)));
    }

    private static (IReadOnlyList<T> Items, IReadOnlyList<QueuePosition> Positions) After<T>(IReadOnlyList<T> items, IReadOnlyList<QueuePosition> positions, QueuePosition watermark)
    {
        var keptItems = new List<T>();
        var keptPositions = new List<QueuePosition>();
        for (var i = 0; i < items.Count; i++)
        {
            if (positions[i] > watermark)
            {
                keptItems.Add(items[i]);
                keptPositions.Add(positions[i]);
            }
        }

        return (keptItems, keptPositions);
    }

    private static bool IsTransient(Exception exception) =>
        exception is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException or InconsistentStateException;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery to {Consumer} from {Queue} failed; retrying")]
    private partial void LogDeliveryRetry(Exception exception, GrainId consumer, string queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Consumer {Consumer} reported a gap on {Queue} (watermark {Watermark}, previously sent {Previous})")]
    private partial void LogGap(GrainId consumer, string queue, string watermark, string previous);
}
