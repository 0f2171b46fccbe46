using System.Text;
using Analytics.Aws.Kinesis;
using Analytics.Runtime.Aws.Kinesis;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.Logging.Abstractions;
using static Analytics.Aws.Tests.KinesisTestStreams;

namespace Analytics.Aws.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class KinesisQueueAdapterTests(EmulatorHost emulators) : IDisposable
{
    private const string Namespace = "numbers";

    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    private KinesisQueueAdapter Adapter(string stream) =>
        new("kinesis", _client, new KinesisStreamOptions { StreamName = stream, Namespace = Namespace });

    private KinesisShardReceiver Receiver(string stream, string shardId) =>
        new(_client, new KinesisStreamOptions { StreamName = stream, Namespace = Namespace }, shardId, TimeProvider.System, NullLogger<KinesisShardReceiver>.Instance);

    private static string Text(QueueRecord record) => Encoding.UTF8.GetString(record.Data.Span);

    /// <summary>
    /// Reads until the receiver is at the tip of an open shard (an empty read with no lag) or at
    /// the end of a closed one, in batches of <paramref name="maxCount"/>. With <paramref name="untilEnd"/>,
    /// only the end of the shard ends the read.
    /// </summary>
    private static async Task<List<QueueRecord>> ReadToTipAsync(IQueueAdapterReceiver receiver, int maxCount = 1000, bool untilEnd = false)
    {
        var records = new List<QueueRecord>();
        for (var reads = 0; reads < 500; reads++)
        {
            var batch = await receiver.GetMessagesAsync(maxCount, CancellationToken.None);
            Assert.True(batch.Count <= maxCount, $"a read returned {batch.Count} records, more than the {maxCount} asked for");
            records.AddRange(batch);
            if (batch.Count == 0 && (receiver.IsAtEnd || (!untilEnd && receiver.Lag == TimeSpan.Zero)))
            {
                return records;
            }
        }

        throw new Xunit.Sdk.XunitException($"The shard did not reach its {(untilEnd ? "end" : "tip")} in 500 reads (lag {receiver.Lag}).");
    }

    private static async Task<List<QueueRecord>> ReadFromAsync(KinesisShardReceiver receiver, StreamSequenceToken? after, int maxCount = 1000, bool untilEnd = false)
    {
        await receiver.InitializeAsync(after, CancellationToken.None);
        return await ReadToTipAsync(receiver, maxCount, untilEnd);
    }

    private static void AssertStrictlyIncreasing(IReadOnlyList<QueueRecord> records)
    {
        for (var i = 1; i < records.Count; i++)
        {
            Assert.True(records[i - 1].Token < records[i].Token, $"token {records[i - 1].Token} is followed by {records[i].Token}");
        }
    }

    [Fact]
    public async Task Appended_records_are_read_back_from_every_shard_exactly_once_in_order_per_key()
    {
        var stream = await CreateAsync(_client, "adapter", shards: 4);
        var adapter = Adapter(stream);
        const int count = 3000;
        var records = Enumerable.Range(0, count)
            .Select(n => (new StreamId(Namespace, $"key-{n % 100}"), (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"key-{n % 100}:{n}")))
            .ToList();
        await adapter.AppendAsync(records, CancellationToken.None);

        var queues = await adapter.GetQueuesAsync(CancellationToken.None);
        Assert.Equal(4, queues.Count);
        Assert.All(queues, q => Assert.Equal("kinesis", q.Provider));
        var read = new List<QueueRecord>();
        foreach (var queue in queues)
        {
            await using var receiver = adapter.CreateReceiver(queue);
            await receiver.InitializeAsync(null, CancellationToken.None);
            var shard = await ReadToTipAsync(receiver);
            AssertStrictlyIncreasing(shard);
            Assert.All(shard, r => Assert.Equal(0, r.Token.SubSequence));
            Assert.False(receiver.IsAtEnd);
            read.AddRange(shard);
        }

        // Every record once, stamped with the adapter's namespace and its key.
        Assert.Equal(count, read.Count);
        Assert.Equal(records.Select(r => Encoding.UTF8.GetString(r.Item2.Span)).Order(), read.Select(Text).Order());
        Assert.All(read, r => Assert.Equal(new StreamId(Namespace, Text(r).Split(':')[0]), r.Stream));

        // Each key's records in the order they were appended (all of a key are in one shard).
        foreach (var key in read.GroupBy(r => r.Stream.Key))
        {
            var numbers = key.Select(r => int.Parse(Text(r).Split(':')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(numbers.Order(), numbers);
            Assert.Equal(30, numbers.Count);
        }
    }

    [Fact]
    public async Task A_receiver_resumes_just_after_a_token_and_hands_out_at_most_the_count_asked()
    {
        var stream = await CreateAsync(_client, "adapter-resume", shards: 1);
        var adapter = Adapter(stream);
        await adapter.AppendAsync(
            Enumerable.Range(0, 1000).Select(n => (new StreamId(Namespace, $"key-{n % 7}"), (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"r{n}"))).ToList(),
            CancellationToken.None);
        var shardId = (await adapter.GetQueuesAsync(CancellationToken.None)).Single().Name;

        await using var receiver = Receiver(stream, shardId);
        var all = await ReadFromAsync(receiver, null, maxCount: 300);
        Assert.Equal(1000, all.Count);
        Assert.True(receiver.Lag >= TimeSpan.Zero);

        var resumed = await ReadFromAsync(receiver, all[499].Token);
        Assert.Equal(all.Skip(500).Select(r => r.Token), resumed.Select(r => r.Token));
        Assert.Equal(all.Skip(500).Select(Text), resumed.Select(Text));

        // Resuming after the last record yields nothing; after none, everything again.
        Assert.Empty(await ReadFromAsync(receiver, all[^1].Token));
        Assert.Equal(1000, (await ReadFromAsync(receiver, null)).Count);
    }

    [Fact]
    public async Task KPL_aggregated_records_are_read_as_user_records_with_their_own_tokens_and_can_be_resumed_inside()
    {
        var stream = await CreateAsync(_client, "adapter-kpl", shards: 1);
        // Three aggregated records of 10 user records, a plain record between them, and a corrupt aggregate.
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
        var shardId = put.Records[0].ShardId!;

        await using var receiver = Receiver(stream, shardId);
        var all = await ReadFromAsync(receiver, null, maxCount: 7);
        Assert.Equal(expected.Count + 1, all.Count);
        Assert.Equal(expected, all.Take(expected.Count).Select(Text));
        AssertStrictlyIncreasing(all);
        Assert.Equal(all.Count, all.Select(r => r.Token).Distinct().Count());

        // User records carry their own partition keys; user record k of an aggregate has sub-sequence (k + 1) * 65536.
        var firstAggregate = all.Take(10).ToList();
        Assert.All(firstAggregate, r => Assert.Equal(put.Records[0].SequenceNumber, r.Token.Sequence));
        Assert.Equal(Enumerable.Range(1, 10).Select(k => k * KinesisShardReceiver.UserRecordStride), firstAggregate.Select(r => r.Token.SubSequence));
        Assert.Equal(Enumerable.Range(0, 10).Select(u => new StreamId(Namespace, $"user-{u % 3}")), firstAggregate.Select(r => r.Stream));
        Assert.Equal(new StreamSequenceToken(put.Records[1].SequenceNumber!), all[10].Token);

        // The corrupt aggregate comes through whole, as one raw record, for the decoder to dead-letter.
        var raw = all[^1];
        Assert.Equal(new StreamSequenceToken(put.Records[^1].SequenceNumber!), raw.Token);
        Assert.Equal(corrupt, raw.Data.ToArray());
        Assert.Equal(new StreamId(Namespace, "bad"), raw.Stream);

        // Resuming inside the second aggregate: after its user record 3, the rest of it and everything after.
        var middle = all.FindIndex(r => Text(r) == "agg1-u3");
        var resumed = await ReadFromAsync(receiver, all[middle].Token);
        Assert.Equal(all.Skip(middle + 1).Select(r => r.Token), resumed.Select(r => r.Token));
        Assert.Equal("agg1-u4", Text(resumed[0]));

        // Resuming after an aggregate's last user record starts with the record after it.
        var last = all.FindIndex(r => Text(r) == "agg2-u9");
        var afterLast = await ReadFromAsync(receiver, all[last].Token);
        Assert.Equal(all.Skip(last + 1).Select(r => r.Token), afterLast.Select(r => r.Token));
    }

    [Fact]
    public async Task A_split_parent_shard_is_read_to_its_end_and_names_its_children()
    {
        var stream = await CreateAsync(_client, "adapter-split", shards: 1);
        var adapter = Adapter(stream);
        await adapter.AppendAsync(
            Enumerable.Range(0, 100).Select(n => (new StreamId(Namespace, $"key-{n}"), (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"r{n}"))).ToList(),
            CancellationToken.None);
        var parent = (await _client.ListAllShardsAsync(stream)).Single();
        await _client.SplitShardAsync(stream, parent.ShardId, parent.HashKeyRange.Midpoint());
        await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);

        var queues = await adapter.GetQueuesAsync(CancellationToken.None);
        Assert.Equal(3, queues.Count);
        await using var receiver = Receiver(stream, parent.ShardId);
        var read = await ReadFromAsync(receiver, null, maxCount: 30, untilEnd: true);
        Assert.True(receiver.IsAtEnd);
        Assert.Equal(100, read.Count);
        Assert.Equal(Enumerable.Range(0, 100).Select(n => $"r{n}"), read.Select(Text));
        var children = (await _client.ListAllShardsAsync(stream)).Where(s => s.ParentShardId == parent.ShardId).Select(s => s.ShardId).Order();
        Assert.Equal(children, receiver.ChildShards.Select(c => c.ShardId).Order());

        // At its end a closed shard stays at its end, and reads nothing more.
        Assert.Empty(await receiver.GetMessagesAsync(10, CancellationToken.None));
        Assert.True(receiver.IsAtEnd);
    }
}
