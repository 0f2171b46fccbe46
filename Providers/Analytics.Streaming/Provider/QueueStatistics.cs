using System.Collections.Concurrent;

namespace Analytics.Streaming;

/// <summary>
/// Counters of one queue's receiver on this silo, read by the cluster API, the dashboard and
/// <see cref="StreamMetrics"/>. Written by the receiver only; read from anywhere, hence the
/// interlocked counters and the volatile references.
/// </summary>
public sealed class QueueStatistics(string provider, string queue)
{
    private long _records;
    private long _items;
    private long _batches;
    private long _directCalls;
    private long _checkpoints;
    private long _rewinds;
    private long _poisonRecords;
    private long _dropped;
    private long _deliveryFailures;
    private volatile bool _active;
    private long _lagTicks = -1;
    private volatile string? _lastDelivered;
    private volatile string? _committed;

    public string Provider { get; } = provider;

    public string Queue { get; } = queue;

    /// <summary>Records read and handled (replays included).</summary>
    public long Records => Interlocked.Read(ref _records);

    /// <summary>Items decoded from them.</summary>
    public long Items => Interlocked.Read(ref _items);

    /// <summary>Batch containers published on Orleans streams.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Calls to direct consumers (retries included).</summary>
    public long DirectCalls => Interlocked.Read(ref _directCalls);

    public long Checkpoints => Interlocked.Read(ref _checkpoints);

    public long Rewinds => Interlocked.Read(ref _rewinds);

    /// <summary>Records that went to the dead-letter store: undecodable, or a consumer kept failing on them.</summary>
    public long PoisonRecords => Interlocked.Read(ref _poisonRecords);

    /// <summary>Items direct consumers reported as dropped (duplicates, dead-lettered).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Stream deliveries Orleans gave up on (each made the receiver replay).</summary>
    public long DeliveryFailures => Interlocked.Read(ref _deliveryFailures);

    /// <summary>The last position read and handled.</summary>
    public string? LastDelivered => _lastDelivered;

    /// <summary>The queue's checkpoint as this receiver last saved or loaded it.</summary>
    public string? Committed => _committed;

    /// <summary>How far behind the newest record the last read was, when the queue knows (Kinesis MillisBehindLatest).</summary>
    public TimeSpan? Lag
    {
        get
        {
            var ticks = Interlocked.Read(ref _lagTicks);
            return ticks < 0 ? null : TimeSpan.FromTicks(ticks);
        }
    }

    /// <summary>True while this silo reads the queue.</summary>
    public bool Active
    {
        get => _active;
        internal set => _active = value;
    }

    internal void AddPage(int records, int items)
    {
        Interlocked.Add(ref _records, records);
        Interlocked.Add(ref _items, items);
    }

    internal void AddBatch() => Interlocked.Increment(ref _batches);

    internal void AddDirectCall() => Interlocked.Increment(ref _directCalls);

    internal void AddCheckpoint() => Interlocked.Increment(ref _checkpoints);

    internal void AddRewind() => Interlocked.Increment(ref _rewinds);

    internal void AddPoisonRecord() => Interlocked.Increment(ref _poisonRecords);

    internal void AddDropped(int count) => Interlocked.Add(ref _dropped, count);

    internal void AddDeliveryFailure() => Interlocked.Increment(ref _deliveryFailures);

    internal void SetLastDelivered(QueuePosition? position) => _lastDelivered = position?.ToString();

    internal void SetCommitted(QueuePosition? position) => _committed = position?.ToString();

    internal void SetLag(TimeSpan? lag) => Interlocked.Exchange(ref _lagTicks, lag is { } value ? Math.Max(0, value.Ticks) : -1);
}

/// <summary>Every queue this silo has read, per provider: one singleton per silo.</summary>
public sealed class QueueStatisticsRegistry
{
    private readonly ConcurrentDictionary<(string Provider, string Queue), QueueStatistics> _queues = new();

    /// <summary>The statistics of one queue; kept after the queue moves away, marked inactive, so counters never go back.</summary>
    public QueueStatistics GetOrAdd(string provider, string queue) =>
        _queues.GetOrAdd((provider, queue), key => new QueueStatistics(key.Provider, key.Queue));

    public IReadOnlyList<QueueStatistics> All =>
        _queues.Values.OrderBy(s => s.Provider, StringComparer.Ordinal).ThenBy(s => s.Queue, StringComparer.Ordinal).ToList();

    /// <summary>The queues this silo reads now.</summary>
    public IReadOnlyList<QueueStatistics> Active => All.Where(s => s.Active).ToList();
}
