using Orleans.Streams;

namespace Analytics.Streaming.LocalLog;

/// <summary>The local log as an Orleans persistent stream provider: partition i is queue i, a stream's key picks its partition.</summary>
public sealed class LocalLogQueueAdapterFactory : CheckpointingQueueAdapterFactory, IAsyncDisposable, IDisposable
{
    private readonly LocalLogStore _log;
    private readonly LocalLogMetadataStore _metadata;

    public LocalLogQueueAdapterFactory(string name, LocalLogOptions options, IServiceProvider services, TimeProvider time)
        : base(name, services)
    {
        _log = new LocalLogStore(options, time);
        _metadata = new LocalLogMetadataStore(options);
    }

    public LocalLogStore Log => _log;

    public override IQueueWriter Writer => _log;

    public override IDeadLetterStore DeadLetters => _metadata;

    public IQueueCheckpointer Checkpointer => _metadata;

    protected override IStreamQueueMapper CreateQueueMapper() => new FixedStreamQueueMapper(Name, _log.Partitions, _log.PartitionOf);

    /// <summary>A queue is named by its partition number, so it shows as "events:3" (provider:queue) in /api/cluster and the dead letters.</summary>
    protected override string GetQueueName(QueueId queueId) => FixedStreamQueueMapper.PartitionOf(queueId).ToString(System.Globalization.CultureInfo.InvariantCulture);

    protected override IQueueReader CreateReader(QueueId queueId, string queue) => _log.CreateReader(FixedStreamQueueMapper.PartitionOf(queueId));

    protected override IQueueCheckpointer GetCheckpointer(QueueId queueId, string queue) => _metadata;

    public async ValueTask DisposeAsync()
    {
        await _log.DisposeAsync();
        _metadata.Dispose();
    }

    // A host that disposes its services synchronously still closes the files.
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
