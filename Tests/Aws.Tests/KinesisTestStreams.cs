using System.Text;
using Analytics.Aws.Kinesis;

namespace Analytics.Aws.Tests;

/// <summary>Steps the Kinesis integration tests share: making a stream, and reading shards.</summary>
internal static class KinesisTestStreams
{
    public static readonly TimeSpan ActiveTimeout = TimeSpan.FromSeconds(20);

    public static async Task<string> CreateAsync(KinesisClient client, string prefix, int shards)
    {
        var name = EmulatorHost.UniqueName(prefix);
        await client.CreateStreamAsync(name, shards);
        await client.WaitForStreamActiveAsync(name, ActiveTimeout);
        return name;
    }

    public static PutRecordsEntry Entry(string partitionKey, string data) => new(Encoding.UTF8.GetBytes(data), partitionKey);

    public static string Text(KinesisRecord record) => Encoding.UTF8.GetString(record.Data.Span);

    /// <summary>
    /// Reads a shard from its start until it is exhausted: for an open shard, an empty page at the
    /// tip (MillisBehindLatest 0); for a closed one, the page that ends it (no next iterator).
    /// </summary>
    public static async Task<ShardRead> ReadShardAsync(KinesisClient client, string stream, string shardId, int pageSize = 1000)
    {
        var iterator = await client.GetShardIteratorAsync(stream, shardId, ShardIteratorType.TrimHorizon);
        var records = new List<KinesisRecord>();
        GetRecordsResult? last = null;
        for (var pages = 0; pages < 1000; pages++)
        {
            last = await client.GetRecordsAsync(iterator, pageSize);
            records.AddRange(last.Records);
            if (last.NextShardIterator is null || (last.Records.Count == 0 && last.MillisBehindLatest is 0 or null))
            {
                return new ShardRead(records, last);
            }

            iterator = last.NextShardIterator;
        }

        throw new InvalidOperationException($"Shard {shardId} of {stream} did not reach its end in 1000 pages.");
    }
}

internal sealed record ShardRead(IReadOnlyList<KinesisRecord> Records, GetRecordsResult LastPage);
