using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Streams;

namespace Analytics.Streaming;

/// <summary>
/// When Orleans gives up delivering a batch to a consumer (it kept throwing for
/// <c>MaxEventDeliveryTime</c>), the queue's receiver replays from its checkpoint instead of
/// moving on: the batch is delivered again, and consumers drop what they applied by watermark.
/// Subscriptions are never faulted, since the consumer is expected to recover.
/// </summary>
public sealed partial class QueueRewindingFailureHandler(QueueId queue, Func<QueueId, CheckpointingQueueReceiver?> receivers, ILogger<QueueRewindingFailureHandler> logger) : IStreamFailureHandler
{
    public bool ShouldFaultSubsriptionOnError => false;

    public Task OnDeliveryFailure(GuidId subscriptionId, string streamProviderName, StreamId streamIdentity, StreamSequenceToken? sequenceToken)
    {
        LogDeliveryFailure(streamProviderName, streamIdentity, sequenceToken?.ToString() ?? "none", queue);
        receivers(queue)?.RequestRewind(sequenceToken);
        return Task.CompletedTask;
    }

    public Task OnSubscriptionFailure(GuidId subscriptionId, string streamProviderName, StreamId streamIdentity, StreamSequenceToken? sequenceToken)
    {
        // Implicit subscriptions need no pub-sub record, so there is nothing to replay here.
        LogSubscriptionFailure(streamProviderName, streamIdentity, queue);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stream provider {Provider} gave up delivering {Token} of {Stream}; {Queue} replays from its checkpoint")]
    private partial void LogDeliveryFailure(string provider, StreamId stream, string token, QueueId queue);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stream provider {Provider} failed to subscribe to {Stream} on {Queue}")]
    private partial void LogSubscriptionFailure(string provider, StreamId stream, QueueId queue);
}
