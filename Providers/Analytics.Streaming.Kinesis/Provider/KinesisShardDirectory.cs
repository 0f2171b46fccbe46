using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Analytics.Aws.Kinesis;

namespace Analytics.Streaming.Kinesis;

/// <summary>
/// How a shard is an Orleans queue: the shard id is the queue's name prefix (and the queue name
/// checkpoints and watermarks use), its number the numeric id, and a hash of it the uniform hash.
/// </summary>
public static class KinesisQueueIds
{
    public static QueueId ForShard(string shardId)
    {
        ArgumentException.ThrowIfNullOrEmpty(shardId);
        var hash = BitConverter.ToUInt32(MD5.HashData(Encoding.UTF8.GetBytes(shardId)), 0);
        // Kinesis names shards "shardId-" and 12 digits; other names (tests) number by their hash.
        var dash = shardId.LastIndexOf('-');
        var number = dash >= 0 && uint.TryParse(shardId.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : hash;
        return QueueId.GetQueueId(shardId, number, hash);
    }

    /// <summary>The shard a queue reads.</summary>
    public static string ShardOf(QueueId queue) => queue.GetStringNamePrefix();
}

/// <summary>
/// The shards of one provider's stream as last listed (open and closed within retention, with
/// their parents): what the balancer leases and the mapper maps to. Shared by both, one per provider.
/// </summary>
public sealed class KinesisShardDirectory(KinesisClient client, string streamName)
{
    private volatile IReadOnlyList<Shard> _shards = [];

    public string StreamName => streamName;

    public IReadOnlyList<Shard> Shards => _shards;

    /// <summary>True once the stream has been listed at least once.</summary>
    public bool IsListed { get; private set; }

    public async Task<IReadOnlyList<ShardInfo>> RefreshAsync(CancellationToken cancellationToken)
    {
        var shards = await client.ListAllShardsAsync(streamName, cancellationToken: cancellationToken).ConfigureAwait(false);
        _shards = shards;
        IsListed = true;
        return [.. shards.Select(s => new ShardInfo(s.ShardId, [.. s.Parents]))];
    }

    /// <summary>The open shard that Kinesis writes a partition key to: the one whose hash key range holds the key's MD5.</summary>
    public Shard? OpenShardFor(string partitionKey)
    {
        var hashKey = new BigInteger(MD5.HashData(Encoding.UTF8.GetBytes(partitionKey)), isUnsigned: true, isBigEndian: true);
        return _shards.FirstOrDefault(s => !s.IsClosed && s.HashKeyRange.Contains(hashKey));
    }
}

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
