using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Providers.Streams.Common;
using Orleans.Streams;

namespace Analytics.Streaming;

/// <summary>
/// The base of our providers' queue adapter factories. A provider supplies only what is its own:
/// its queues (the mapper), a reader per queue, where checkpoints live, the writer of the ingest
/// path and the dead-letter store. The base supplies the adapter, the receivers
/// (<see cref="CheckpointingQueueReceiver"/>), the cache and the failure handler that replays.
/// Register one with <c>siloBuilder.AddQueueStreams</c>, which makes it a keyed singleton, so
/// that its writer and dead letters are the ones the ingest path and the API resolve.
/// </summary>
public abstract class CheckpointingQueueAdapterFactory : IQueueAdapterFactory
{
    private readonly ConcurrentDictionary<QueueId, CheckpointingQueueReceiver> _receivers = new();
    private readonly Lazy<QueueReceiverServices> _receiverServices;
    private readonly Lazy<IQueueAdapterCache> _cache;
    private readonly Lazy<IStreamQueueMapper> _mapper;
    private readonly SemaphoreSlim _initialization = new(1, 1);
    private CheckpointingQueueAdapter? _adapter;

    protected CheckpointingQueueAdapterFactory(string name, IServiceProvider services)
    {
        Name = name;
        Services = services;
        _receiverServices = new Lazy<QueueReceiverServices>(() => QueueReceiverServices.Create(services, name));
        _cache = new Lazy<IQueueAdapterCache>(CreateCache);
        _mapper = new Lazy<IStreamQueueMapper>(CreateQueueMapper);
    }

    /// <summary>The provider's name: the key of its services and the name Orleans streams use.</summary>
    public string Name { get; }

    protected IServiceProvider Services { get; }

    /// <summary>Appends records to the provider's queues, durably (the ingest path).</summary>
    public abstract IQueueWriter Writer { get; }

    /// <summary>Where this provider's poison records go.</summary>
    public abstract IDeadLetterStore DeadLetters { get; }

    /// <summary>The receivers this silo runs now, one per queue it owns.</summary>
    public IReadOnlyCollection<CheckpointingQueueReceiver> Receivers => _receivers.Values.ToList();

    internal QueueReceiverServices ReceiverServices => _receiverServices.Value;

    /// <summary>The provider's queues and which one each stream goes to.</summary>
    protected abstract IStreamQueueMapper CreateQueueMapper();

    /// <summary>Reads one queue; <paramref name="queue"/> is its name in checkpoints and watermarks.</summary>
    protected abstract IQueueReader CreateReader(QueueId queueId, string queue);

    /// <summary>Where the queue's checkpoint lives (one store for all queues, or one per lease).</summary>
    protected abstract IQueueCheckpointer GetCheckpointer(QueueId queueId, string queue);

    /// <summary>The queue's name in checkpoints, consumer watermarks and dead letters: stable across restarts.</summary>
    protected virtual string GetQueueName(QueueId queueId) => queueId.ToString();

    /// <summary>One-time asynchronous set-up (opening files, finding shards), before the first receiver.</summary>
    protected virtual Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Orleans' cache of batch containers per queue; by default its simple cache, sized by the options.</summary>
    protected virtual IQueueAdapterCache CreateCache() =>
        new SimpleQueueAdapterCache(
            new SimpleQueueCacheOptions { CacheSize = ReceiverServices.Options.CacheSize },
            Name,
            Services.GetRequiredService<ILoggerFactory>());

    public async Task<IQueueAdapter> CreateAdapter()
    {
        if (_adapter is { } adapter)
        {
            return adapter;
        }

        await _initialization.WaitAsync();
        try
        {
            if (_adapter is null)
            {
                await InitializeAsync();
                _adapter = new CheckpointingQueueAdapter(this);
            }

            return _adapter;
        }
        finally
        {
            _initialization.Release();
        }
    }

    public IQueueAdapterCache GetQueueAdapterCache() => _cache.Value;

    public IStreamQueueMapper GetStreamQueueMapper() => _mapper.Value;

    public Task<IStreamFailureHandler> GetDeliveryFailureHandler(QueueId queueId) =>
        Task.FromResult<IStreamFailureHandler>(new QueueRewindingFailureHandler(
            queueId,
            id => _receivers.TryGetValue(id, out var receiver) ? receiver : null,
            Services.GetRequiredService<ILogger<QueueRewindingFailureHandler>>()));

    internal CheckpointingQueueReceiver CreateReceiver(QueueId queueId)
    {
        var queue = GetQueueName(queueId);
        var receiver = new CheckpointingQueueReceiver(queueId, queue, ReceiverServices, CreateReader(queueId, queue), GetCheckpointer(queueId, queue), DeadLetters);
        _receivers[queueId] = receiver;
        return receiver;
    }
}
