using System.Collections.Concurrent;
using Orleans.Streams;

namespace Analytics.Streaming.Tests;

/// <summary>
/// A provider on the shared core with queues in memory, as small as a provider can be (what the
/// Kinesis provider supplies, in miniature): queues that can be closed like a Kinesis parent
/// shard, and a checkpointer that can say the lease was lost.
/// </summary>
public sealed class MemoryQueues(int count) : IQueueCheckpointer, IQueueWriter
{
    private readonly List<QueueRecord>[] _queues = Enumerable.Range(0, count).Select(_ => new List<QueueRecord>()).ToArray();
    private readonly bool[] _closed = new bool[count];
    private readonly ConcurrentDictionary<string, QueuePosition> _checkpoints = new();
    private readonly ConcurrentDictionary<string, bool> _ended = new();

    public int Count => count;

    public MemoryDeadLetters DeadLetters { get; } = new();

    /// <summary>Queues whose next save throws <see cref="QueueLeaseLostException"/>.</summary>
    public ConcurrentDictionary<string, bool> LeaseLost { get; } = new();

    public int PartitionOf(string key) => (int)(LocalLog.LocalLogPartitioner.Hash(key) % (ulong)count);

    public static string QueueName(int partition) => $"{StreamCluster.Provider}-{partition}";

    public void Close(int partition)
    {
        lock (_queues[partition])
        {
            _closed[partition] = true;
        }
    }

    public bool Ended(int partition) => _ended.ContainsKey(QueueName(partition));

    public QueuePosition? Checkpoint(int partition) => _checkpoints.TryGetValue(QueueName(partition), out var p) ? p : null;

    public Task AppendAsync(IReadOnlyList<(string StreamKey, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken)
    {
        foreach (var (key, data) in records)
        {
            var queue = _queues[PartitionOf(key)];
            lock (queue)
            {
                queue.Add(new QueueRecord(key, data, new QueuePosition(queue.Count + 1)));
            }
        }

        return Task.CompletedTask;
    }

    public string GetQueueAffinity(string streamKey) => PartitionOf(streamKey).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public Task<QueuePosition?> LoadAsync(string queue, CancellationToken cancellationToken) =>
        Task.FromResult(_checkpoints.TryGetValue(queue, out var p) ? p : (QueuePosition?)null);

    public Task SaveAsync(string queue, QueuePosition position, CancellationToken cancellationToken)
    {
        if (LeaseLost.ContainsKey(queue))
        {
            throw new QueueLeaseLostException(queue, "this silo");
        }

        _checkpoints.AddOrUpdate(queue, position, (_, old) => old > position ? old : position);
        return Task.CompletedTask;
    }

    public Task SaveEndAsync(string queue, CancellationToken cancellationToken)
    {
        _ended[queue] = true;
        return Task.CompletedTask;
    }

    public IQueueReader CreateReader(int partition) => new Reader(this, partition);

    private sealed class Reader(MemoryQueues queues, int partition) : IQueueReader
    {
        private int _next;
        private bool _atEnd;

        public bool IsAtEnd => _atEnd;

        public TimeSpan? Lag { get; private set; }

        public Task InitializeAsync(QueuePosition? after, CancellationToken cancellationToken)
        {
            _next = after is { } p ? int.Parse(p.Sequence, System.Globalization.CultureInfo.InvariantCulture) : 0;
            _atEnd = false;
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<QueueRecord>> ReadAsync(int maxCount, CancellationToken cancellationToken)
        {
            var queue = queues._queues[partition];
            lock (queue)
            {
                var records = queue.Skip(_next).Take(maxCount).ToList();
                _next += records.Count;
                _atEnd = queues._closed[partition] && _next == queue.Count;
                Lag = TimeSpan.FromMilliseconds(queue.Count - _next);
                return Task.FromResult<IReadOnlyList<QueueRecord>>(records);
            }
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

public sealed class MemoryDeadLetters : IDeadLetterStore
{
    private readonly ConcurrentQueue<DeadLetter> _letters = new();

    public Task AddAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        _letters.Enqueue(letter);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<DeadLetter>> ListAsync(int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DeadLetter>>(_letters.Take(limit).ToList());

    public Task<long> CountAsync(CancellationToken cancellationToken) => Task.FromResult((long)_letters.Count);
}

/// <summary>The factory: only the parts that are the provider's own.</summary>
public sealed class MemoryQueueAdapterFactory(string name, IServiceProvider services, MemoryQueues queues) : CheckpointingQueueAdapterFactory(name, services)
{
    public override IQueueWriter Writer => queues;

    public override IDeadLetterStore DeadLetters => queues.DeadLetters;

    protected override IStreamQueueMapper CreateQueueMapper() => new FixedStreamQueueMapper(Name, queues.Count, queues.PartitionOf);

    protected override IQueueReader CreateReader(QueueId queueId, string queue) => queues.CreateReader(FixedStreamQueueMapper.PartitionOf(queueId));

    protected override IQueueCheckpointer GetCheckpointer(QueueId queueId, string queue) => queues;
}
