using System.Text.Json;

namespace Analytics.Runtime.Streaming;

/// <summary>Everything one named stream provider is made of.</summary>
internal sealed class StreamProviderRuntime(
    string name,
    IQueueAdapter adapter,
    IStreamCheckpointer checkpointer,
    IStreamRecordDecoder decoder,
    IDeadLetterStore deadLetters,
    StreamPullingOptions options,
    ImplicitSubscriptions subscriptions,
    TimeProvider timeProvider) : IStreamProvider
{
    public string Name { get; } = name;

    public IQueueAdapter Adapter { get; } = adapter;

    public IStreamCheckpointer Checkpointer { get; } = checkpointer;

    public IStreamRecordDecoder Decoder { get; } = decoder;

    public IDeadLetterStore DeadLetters { get; } = deadLetters;

    public StreamPullingOptions Options { get; } = options;

    public ImplicitSubscriptions Subscriptions { get; } = subscriptions;

    public TimeProvider TimeProvider { get; } = timeProvider;

    public Task AppendAsync(IReadOnlyList<(StreamId Stream, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken = default) =>
        Adapter.AppendAsync(records, cancellationToken);

    public Task OnNextAsync<T>(StreamId stream, T item, CancellationToken cancellationToken = default) =>
        Adapter.AppendAsync([(stream, JsonSerializer.SerializeToUtf8Bytes(item))], cancellationToken);

    public string GetQueueAffinity(StreamId stream) => Adapter.GetQueueAffinity(stream);
}

/// <summary>The producer side of a stream provider.</summary>
public interface IStreamProvider
{
    string Name { get; }

    IDeadLetterStore DeadLetters { get; }

    /// <summary>Appends raw records; returns once all are durable in the provider's queues.</summary>
    Task AppendAsync(IReadOnlyList<(StreamId Stream, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken = default);

    /// <summary>Appends one item serialised as JSON.</summary>
    Task OnNextAsync<T>(StreamId stream, T item, CancellationToken cancellationToken = default);

    /// <summary>Streams with equal affinity share a queue; see <see cref="IQueueAdapter.GetQueueAffinity"/>.</summary>
    string GetQueueAffinity(StreamId stream);
}
