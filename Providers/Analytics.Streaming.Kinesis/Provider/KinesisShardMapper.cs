namespace Analytics.Streaming.Kinesis;

/// <summary>
/// The provider's queues are the stream's current shards. A stream maps to the open shard its key
/// hashes to, as Kinesis routes a record; the writer leaves routing to Kinesis, so this is what
/// Orleans asks of a mapper, not how records are placed.
/// </summary>
public sealed class KinesisShardMapper(KinesisShardDirectory directory) : IStreamQueueMapper
{
    public IEnumerable<QueueId> GetAllQueues() => directory.Shards.Select(s => KinesisQueueIds.ForShard(s.ShardId));

    public QueueId GetQueueForStream(StreamId streamId)
    {
        var key = streamId.GetKeyAsString();
        return directory.OpenShardFor(key) is { } shard
            ? KinesisQueueIds.ForShard(shard.ShardId)
            : throw new InvalidOperationException($"No open shard of Kinesis stream '{directory.StreamName}' is known for key '{key}' (the shards are not listed yet).");
    }
}
