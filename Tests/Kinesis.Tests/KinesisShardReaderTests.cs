using System.Globalization;
using System.Text;
using Analytics.Aws.Kinesis;
using Microsoft.Extensions.Logging.Abstractions;
using static Analytics.Kinesis.Tests.KinesisTestStreams;

namespace Analytics.Kinesis.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class KinesisShardReaderTests(EmulatorHost emulators) : IDisposable
{
    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    private KinesisShardReader Reader(string stream, string shardId) =>
        new(_client, new KinesisStreamOptions { StreamName = stream, MinPollInterval = TimeSpan.Zero }, shardId, TimeProvider.System, NullLogger<KinesisShardReader>.Instance);

    private KinesisQueueWriter Writer(string stream) =>
        new(_client, new KinesisStreamOptions { StreamName = stream }, TimeProvider.System, NullLogger<KinesisQueueWriter>.Instance);

    /// <summary>
    /// Reads until the reader is at the tip of an open shard (an empty read with no lag) or at the
    /// end of a closed one, in batches of <paramref name="maxCount"/>. With <paramref name="untilEnd"/>,
    /// only the end of the shard ends the read.
    /// </summary>
    private static async Task<List<QueueRecord>> ReadToTipAsync(IQueueReader reader, int maxCount = 1000, bool untilEnd = false)
    {
        var records = new List<QueueRecord>();
        for (var reads = 0; reads < 500; reads++)
        {
            var batch = await reader.ReadAsync(maxCount, CancellationToken.None);
            Assert.True(batch.Count <= maxCount, $"a read returned {batch.Count} records, more than the {maxCount} asked for");
            records.AddRange(batch);
            if (batch.Count == 0 && (reader.IsAtEnd || (!untilEnd && reader.Lag == TimeSpan.Zero)))
            {
                return records;
            }
        }

        throw new Xunit.Sdk.XunitException($"The shard did not reach its {(untilEnd ? "end" : "tip")} in 500 reads (lag {reader.Lag}).");
    }

    private static async Task<List<QueueRecord>> ReadFromAsync(KinesisShardReader reader, QueuePosition? after, int maxCount = 1000, bool untilEnd = false)
    {
        await reader.InitializeAsync(after, CancellationToken.None);
        return await ReadToTipAsync(reader, maxCount, untilEnd);
    }

    private static void AssertStrictlyIncreasing(IReadOnlyList<QueueRecord> records)
    {
        for (var i = 1; i < records.Count; i++)
        {
            Assert.True(records[i - 1].Position < records[i].Position, $"position {records[i - 1].Position} is followed by {records[i].Position}");
        }
    }

    [Fact]
    public async Task Written_records_are_read_back_from_every_shard_exactly_once_in_order_per_key()
    {
        var stream = await CreateAsync(_client, "reader", shards: 4);
        const int count = 3000;
        var records = Enumerable.Range(0, count).Select(n => Record($"key-{n % 100}", $"key-{n % 100}:{n}")).ToList();
        await Writer(stream).AppendAsync(records, CancellationToken.None);

        var shards = await _client.ListAllShardsAsync(stream);
        Assert.Equal(4, shards.Count);
        var read = new List<QueueRecord>();
        foreach (var shard in shards)
        {
            await using var reader = Reader(stream, shard.ShardId);
            var fromShard = await ReadFromAsync(reader, null);
            AssertStrictlyIncreasing(fromShard);
            Assert.All(fromShard, r => Assert.Equal(0, r.Position.SubSequence));
            Assert.False(reader.IsAtEnd);
            read.AddRange(fromShard);
        }

        // Every record once, under its key.
        Assert.Equal(count, read.Count);
        Assert.Equal(records.Select(r => Encoding.UTF8.GetString(r.Data.Span)).Order(), read.Select(Text).Order());
        Assert.All(read, r => Assert.Equal(Text(r).Split(':')[0], r.StreamKey));

        // Each key's records in the order they were written (all of a key are in one shard).
        foreach (var key in read.GroupBy(r => r.StreamKey))
        {
            var numbers = key.Select(r => int.Parse(Text(r).Split(':')[1], CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(numbers.Order(), numbers);
            Assert.Equal(30, numbers.Count);
        }
    }

    [Fact]
    public async Task A_reader_resumes_just_after_a_position_and_hands_out_at_most_the_count_asked()
    {
        var stream = await CreateAsync(_client, "reader-resume", shards: 1);
        await Writer(stream).AppendAsync(Enumerable.Range(0, 1000).Select(n => Record($"key-{n % 7}", $"r{n}")).ToList(), CancellationToken.None);
        var shardId = (await _client.ListAllShardsAsync(stream)).Single().ShardId;

        await using var reader = Reader(stream, shardId);
        var all = await ReadFromAsync(reader, null, maxCount: 300);
        Assert.Equal(1000, all.Count);
        Assert.True(reader.Lag >= TimeSpan.Zero);

        var resumed = await ReadFromAsync(reader, all[499].Position);
        Assert.Equal(all.Skip(500).Select(r => r.Position), resumed.Select(r => r.Position));
        Assert.Equal(all.Skip(500).Select(Text), resumed.Select(Text));

        // Resuming after the last record yields nothing; from no position, everything again.
        Assert.Empty(await ReadFromAsync(reader, all[^1].Position));
        Assert.Equal(1000, (await ReadFromAsync(reader, null)).Count);
    }

    [Fact]
    public async Task KPL_aggregated_records_are_read_as_user_records_with_their_own_positions_and_can_be_resumed_inside()
    {
        var stream = await CreateAsync(_client, "reader-kpl", shards: 1);
        // Three aggregated records of 10 user records, a plain record after each, and a corrupt aggregate.
        var expected = new List<string>();
        var entries = new List<PutRecordsEntry>();
        for (var a = 0; a < 3; a++)
        {
            var users = Enumerable.Range(0, 10).Select(u => new KplRecord($"user-{u % 3}", Encoding.UTF8.GetBytes($"agg{a}-u{u}"))).ToList();
            entries.Add(new PutRecordsEntry(KplAggregation.Aggregate(users), users[0].PartitionKey));
            expected.AddRange(users.Select(u => Encoding.UTF8.GetString(u.Data.Span)));
            entries.Add(Entry("plain", $"plain-{a}"));
            expected.Add($"plain-{a}");
        }

        var corrupt = KplAggregation.Aggregate([new KplRecord("bad", "x"u8.ToArray())]);
        corrupt[^1] ^= 0xFF;
        entries.Add(new PutRecordsEntry(corrupt, "bad"));
        var put = await _client.PutRecordsAsync(stream, entries);
        Assert.Equal(0, put.FailedRecordCount);

        await using var reader = Reader(stream, put.Records[0].ShardId!);
        var all = await ReadFromAsync(reader, null, maxCount: 7);
        Assert.Equal(expected.Count + 1, all.Count);
        Assert.Equal(expected, all.Take(expected.Count).Select(Text));
        AssertStrictlyIncreasing(all);

        // User records carry their own partition keys; user record k of an aggregate has sub-sequence (k + 1) * 65536.
        var firstAggregate = all.Take(10).ToList();
        Assert.All(firstAggregate, r => Assert.Equal(put.Records[0].SequenceNumber, r.Position.Sequence));
        Assert.Equal(Enumerable.Range(1, 10).Select(k => k * KinesisShardReader.UserRecordStride), firstAggregate.Select(r => r.Position.SubSequence));
        Assert.Equal(Enumerable.Range(0, 10).Select(u => $"user-{u % 3}"), firstAggregate.Select(r => r.StreamKey));
        Assert.Equal(new QueuePosition(put.Records[1].SequenceNumber!), all[10].Position);

        // The corrupt aggregate comes through whole, as one raw record, for the decoder to dead-letter.
        var raw = all[^1];
        Assert.Equal(new QueuePosition(put.Records[^1].SequenceNumber!), raw.Position);
        Assert.Equal(corrupt, raw.Data.ToArray());
        Assert.Equal("bad", raw.StreamKey);

        // Resuming inside the second aggregate: after its user record 3, the rest of it and everything after.
        var middle = all.FindIndex(r => Text(r) == "agg1-u3");
        var resumed = await ReadFromAsync(reader, all[middle].Position);
        Assert.Equal(all.Skip(middle + 1).Select(r => r.Position), resumed.Select(r => r.Position));
        Assert.Equal("agg1-u4", Text(resumed[0]));

        // Resuming after an aggregate's last user record starts with the record after it.
        var last = all.FindIndex(r => Text(r) == "agg2-u9");
        var afterLast = await ReadFromAsync(reader, all[last].Position);
        Assert.Equal(all.Skip(last + 1).Select(r => r.Position), afterLast.Select(r => r.Position));
    }

    [Fact]
    public async Task A_split_parent_shard_is_read_to_its_end_and_names_its_children()
    {
        var stream = await CreateAsync(_client, "reader-split", shards: 1);
        await Writer(stream).AppendAsync(Enumerable.Range(0, 100).Select(n => Record($"key-{n}", $"r{n}")).ToList(), CancellationToken.None);
        var parent = (await _client.ListAllShardsAsync(stream)).Single();
        await _client.SplitShardAsync(stream, parent.ShardId, parent.HashKeyRange.Midpoint());
        await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);

        await using var reader = Reader(stream, parent.ShardId);
        var read = await ReadFromAsync(reader, null, maxCount: 30, untilEnd: true);
        Assert.True(reader.IsAtEnd);
        Assert.Equal(Enumerable.Range(0, 100).Select(n => $"r{n}"), read.Select(Text));
        var children = (await _client.ListAllShardsAsync(stream)).Where(s => s.ParentShardId == parent.ShardId).Select(s => s.ShardId).Order();
        Assert.Equal(children, reader.ChildShards.Select(c => c.ShardId).Order());

        // At its end a closed shard stays at its end, and reads nothing more.
        Assert.Empty(await reader.ReadAsync(10, CancellationToken.None));
        Assert.True(reader.IsAtEnd);

        // The mapper routes a key to the open child whose hash range holds it, as Kinesis did.
        var directory = new KinesisShardDirectory(_client, stream);
        await directory.RefreshAsync(CancellationToken.None);
        var mapper = new KinesisShardMapper(directory);
        Assert.Equal(3, mapper.GetAllQueues().Count());
        var put = await _client.PutRecordsAsync(stream, Enumerable.Range(0, 20).Select(n => Entry($"after-{n}", "x")).ToList());
        for (var n = 0; n < 20; n++)
        {
            var queue = mapper.GetQueueForStream(StreamId.Create("ns", $"after-{n}"));
            Assert.Equal(put.Records[n].ShardId, KinesisQueueIds.ShardOf(queue));
        }
    }
}
