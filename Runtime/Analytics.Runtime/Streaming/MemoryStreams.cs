using System.Collections.Concurrent;

namespace Analytics.Runtime.Streaming;

/// <summary>
/// Queues in memory, for tests. The store is shared by the silos of a test cluster, so any silo can
/// read what any other appended; nothing survives the process.
/// </summary>
public sealed class MemoryQueueAdapter(string name, int queueCount, MemoryQueueAdapter.Store store) : IQueueAdapter
{
    public string Name { get; } = name;

    public Task<IReadOnlyList<QueueId>> GetQueuesAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<QueueId>>(Enumerable.Range(0, queueCount).Select(i => new QueueId(Name, i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList());

    public Task AppendAsync(IReadOnlyList<(StreamId Stream, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken)
    {
        foreach (var (stream, data) in records)
        {
            var queue = store.Queues.GetOrAdd(StreamPartitioner.GetPartition(stream, queueCount), _ => []);
            lock (queue)
            {
                queue.Add(new QueueRecord(stream, data.ToArray(), new StreamSequenceToken(queue.Count + 1)));
            }
        }

        return Task.CompletedTask;
    }

    public string GetQueueAffinity(StreamId stream) => StreamPartitioner.GetPartition(stream, queueCount).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public IQueueAdapterReceiver CreateReceiver(QueueId queue) =>
        new Receiver(store.Queues.GetOrAdd(int.Parse(queue.Name, System.Globalization.CultureInfo.InvariantCulture), _ => []));

    public sealed class Store
    {
        internal ConcurrentDictionary<int, List<QueueRecord>> Queues { get; } = new();

        public ConcurrentDictionary<QueueId, StreamSequenceToken> Checkpoints { get; } = new();
    }

    private sealed class Receiver(List<QueueRecord> records) : IQueueAdapterReceiver
    {
        private int _next;

        public bool IsAtEnd => false;

        public TimeSpan? Lag => null;

        public Task InitializeAsync(StreamSequenceToken? after, CancellationToken cancellationToken)
        {
            _next = after is { } token ? int.Parse(token.Sequence, System.Globalization.CultureInfo.InvariantCulture) : 0;
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<QueueRecord>> GetMessagesAsync(int maxCount, CancellationToken cancellationToken)
        {
            lock (records)
            {
                var take = Math.Min(maxCount, records.Count - _next);
                var batch = take <= 0 ? [] : records.GetRange(_next, take);
                _next += Math.Max(take, 0);
                return Task.FromResult<IReadOnlyList<QueueRecord>>(batch);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

public sealed class MemoryCheckpointer(MemoryQueueAdapter.Store store) : IStreamCheckpointer
{
    public Task<StreamSequenceToken?> LoadAsync(QueueId queue, CancellationToken cancellationToken) =>
        Task.FromResult<StreamSequenceToken?>(store.Checkpoints.TryGetValue(queue, out var token) ? token : null);

    public Task SaveAsync(QueueId queue, StreamSequenceToken token, CancellationToken cancellationToken)
    {
        store.Checkpoints.AddOrUpdate(queue, token, (_, old) => old > token ? old : token);
        return Task.CompletedTask;
    }
}

/// <summary>Which partition a stream's records go to: all of one stream key's records share one, so they stay in order.</summary>
public static class StreamPartitioner
{
    public static int GetPartition(StreamId stream, int partitions) => (int)(StableHashing.Hash(stream.Key) % (ulong)partitions);

    public static int GetPartition(string streamKey, int partitions) => (int)(StableHashing.Hash(streamKey) % (ulong)partitions);
}
