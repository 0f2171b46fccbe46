using Orleans.Runtime;
using Orleans.Streams;

namespace Analytics.Streaming;

/// <summary>
/// The Orleans queue adapter of our providers: read-only (the ingest path appends through the
/// provider's <see cref="IQueueWriter"/>, durably, before it answers), and not rewindable in
/// Orleans' sense: consumers do not ask Orleans for tokens; replays are the receiver's own, and
/// watermarks in the consumers' state make them harmless.
/// </summary>
public sealed class CheckpointingQueueAdapter(CheckpointingQueueAdapterFactory factory) : IQueueAdapter
{
    public string Name => factory.Name;

    public bool IsRewindable => false;

    public StreamProviderDirection Direction => StreamProviderDirection.ReadOnly;

    public IQueueAdapterReceiver CreateReceiver(QueueId queueId) => factory.CreateReceiver(queueId);

    public Task QueueMessageBatchAsync<T>(StreamId streamId, IEnumerable<T> events, StreamSequenceToken? token, Dictionary<string, object>? requestContext) =>
        throw new NotSupportedException($"Stream provider '{Name}' is read-only in Orleans: append records with its IQueueWriter (keyed service '{Name}').");
}
