using System.Globalization;
using System.Security.Cryptography;
using System.Text;

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
