using System.Globalization;
using Orleans.Runtime;
using Orleans.Streams;

namespace Analytics.Streaming;

/// <summary>
/// A fixed set of queues, one per partition of the provider's log, with the stream-to-queue
/// mapping the provider's writer uses (so a stream's records and the queue Orleans reads them
/// from agree). Queues sit evenly on Orleans' consistent ring. Queue i is named "{provider}-{i}".
/// </summary>
public sealed class FixedStreamQueueMapper : IConsistentRingStreamQueueMapper
{
    private readonly QueueId[] _queues;
    private readonly Func<string, int> _partitionOf;

    /// <param name="partitionOf">The partition of a stream key, from 0 to <paramref name="partitions"/> - 1.</param>
    public FixedStreamQueueMapper(string providerName, int partitions, Func<string, int> partitionOf)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        _partitionOf = partitionOf;
        // The uniform hash spreads the queues over a consistent ring balancer; the numeric id is the partition.
        _queues = Enumerable.Range(0, partitions)
            .Select(i => QueueId.GetQueueId(providerName, (uint)i, (uint)(((ulong)i * uint.MaxValue) / (ulong)partitions)))
            .ToArray();
    }

    public IEnumerable<QueueId> GetAllQueues() => _queues;

    /// <summary>For Orleans' consistent ring balancer: the queues whose place on the ring is in a silo's range.</summary>
    public IEnumerable<QueueId> GetQueuesForRange(IRingRange range) => _queues.Where(q => range.InRange(q.GetUniformHashCode()));

    public QueueId GetQueueForStream(StreamId streamId) => _queues[PartitionOf(streamId.GetKeyAsString())];

    /// <summary>The partition a queue reads.</summary>
    public static int PartitionOf(QueueId queue) => checked((int)queue.GetNumericId());

    private int PartitionOf(string key)
    {
        var partition = _partitionOf(key);
        return partition >= 0 && partition < _queues.Length
            ? partition
            : throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Stream key '{key}' maps to partition {partition}, outside 0..{_queues.Length - 1}."));
    }
}
