using Analytics.Aws.Kinesis;
using static Analytics.Aws.Tests.KinesisTestStreams;

namespace Analytics.Aws.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class KinesisReadWriteTests(EmulatorHost emulators) : IDisposable
{
    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task Every_record_put_comes_back_exactly_once_and_in_order_per_partition_key()
    {
        const int recordCount = 2000;
        const int keyCount = 37;
        var stream = await CreateAsync(_client, "put-read", shards: 2);

        // Data is "key/n": the n-th record written under that key.
        var written = Enumerable.Range(0, recordCount)
            .Select(i => (Key: $"key-{i % keyCount}", Data: $"key-{i % keyCount}/{i / keyCount}"))
            .ToList();
        var shardsWritten = new HashSet<string>();
        foreach (var batch in written.Chunk(KinesisLimits.MaxPutRecordsCount))
        {
            var result = await _client.PutRecordsAsync(stream, batch.Select(r => Entry(r.Key, r.Data)).ToList());
            Assert.Equal(0, result.FailedRecordCount);
            Assert.All(result.Records, r => Assert.True(r.IsSuccess, r.ErrorMessage));
            shardsWritten.UnionWith(result.Records.Select(r => r.ShardId!));
        }

        var shards = await _client.ListAllShardsAsync(stream);
        Assert.Equal(2, shards.Count);
        Assert.Equal(shards.Select(s => s.ShardId).Order(), shardsWritten.Order());

        var read = new List<KinesisRecord>();
        foreach (var shard in shards)
        {
            var shardRead = await ReadShardAsync(_client, stream, shard.ShardId, pageSize: 300);
            Assert.NotEmpty(shardRead.Records);
            Assert.NotNull(shardRead.LastPage.NextShardIterator);
            // Within a shard, sequence numbers only grow.
            Assert.True(shardRead.Records.Zip(shardRead.Records.Skip(1)).All(p =>
                Analytics.Streaming.QueuePosition.CompareSequences(p.First.SequenceNumber, p.Second.SequenceNumber) < 0));
            Assert.All(shardRead.Records, r => Assert.True(r.ApproximateArrivalTimestamp > DateTimeOffset.UtcNow.AddMinutes(-5)));
            read.AddRange(shardRead.Records);
        }

        Assert.Equal(recordCount, read.Count);
        Assert.Equal(written.Select(w => w.Data).Order(), read.Select(Text).Order());
        Assert.All(read, r => Assert.StartsWith(r.PartitionKey + "/", Text(r), StringComparison.Ordinal));
        foreach (var byKey in read.GroupBy(r => r.PartitionKey))
        {
            var counters = byKey.Select(r => int.Parse(Text(r).Split('/')[1], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(Enumerable.Range(0, byKey.Count()), counters);
        }
    }

    [Fact]
    public async Task Iterators_start_at_after_or_past_a_sequence_number()
    {
        var stream = await CreateAsync(_client, "iterators", shards: 1);
        var put = await _client.PutRecordsAsync(stream, Enumerable.Range(0, 10).Select(i => Entry("k", $"r{i}")).ToList());
        var shardId = put.Records[0].ShardId!;
        var fifth = put.Records[4].SequenceNumber!;

        async Task<List<string>> ReadFrom(ShardIteratorType type, string? sequence)
        {
            var iterator = await _client.GetShardIteratorAsync(stream, shardId, type, sequence);
            return (await _client.GetRecordsAsync(iterator)).Records.Select(Text).ToList();
        }

        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"r{i}"), await ReadFrom(ShardIteratorType.TrimHorizon, null));
        Assert.Equal(Enumerable.Range(4, 6).Select(i => $"r{i}"), await ReadFrom(ShardIteratorType.AtSequenceNumber, fifth));
        Assert.Equal(Enumerable.Range(5, 5).Select(i => $"r{i}"), await ReadFrom(ShardIteratorType.AfterSequenceNumber, fifth));

        // LATEST sees only what is written after the iterator was taken.
        var latest = await _client.GetShardIteratorAsync(stream, shardId, ShardIteratorType.Latest);
        var empty = await _client.GetRecordsAsync(latest);
        Assert.Empty(empty.Records);
        await _client.PutRecordsAsync(stream, [Entry("k", "after-latest")]);
        var next = await _client.GetRecordsAsync(empty.NextShardIterator!);
        Assert.Equal(["after-latest"], next.Records.Select(Text));
        Assert.Equal(0, next.MillisBehindLatest);
    }

    [Fact]
    public async Task A_stream_is_described_and_deleted()
    {
        var stream = await CreateAsync(_client, "describe", shards: 3);
        var summary = await _client.DescribeStreamSummaryAsync(stream);
        Assert.Equal(stream, summary.StreamName);
        Assert.True(summary.IsActive);
        Assert.Equal(3, summary.OpenShardCount);
        Assert.Contains(stream, summary.StreamArn, StringComparison.Ordinal);

        await _client.DeleteStreamAsync(stream);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                await _client.DescribeStreamSummaryAsync(stream);
            }
            catch (KinesisException e) when (e.IsResourceNotFound)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "The deleted stream is still there after 20 s.");
            await Task.Delay(100);
        }
    }
}
