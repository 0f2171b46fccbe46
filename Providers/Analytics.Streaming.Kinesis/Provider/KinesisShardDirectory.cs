using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Analytics.Aws.Kinesis;

namespace Analytics.Streaming.Kinesis;

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
