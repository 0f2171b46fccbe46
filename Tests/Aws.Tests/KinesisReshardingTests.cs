using Analytics.Aws.Kinesis;
using Analytics.Runtime.Aws.Kinesis;
using static Analytics.Aws.Tests.KinesisTestStreams;

namespace Analytics.Aws.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class KinesisReshardingTests(EmulatorHost emulators) : IDisposable
{
    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task Split_and_merge_link_children_to_parents_and_closed_parents_end_with_their_children()
    {
        var stream = await CreateAsync(_client, "reshard", shards: 2);
        var before = await _client.PutRecordsAsync(stream, Enumerable.Range(0, 100).Select(i => Entry($"pk-{i}", $"before-{i}")).ToList());
        var initial = await _client.ListAllShardsAsync(stream);
        var parent = initial[0];

        // Split the first shard in half.
        await _client.SplitShardAsync(stream, parent.ShardId, parent.HashKeyRange.Midpoint());
        await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);
        var afterSplit = await _client.ListAllShardsAsync(stream);
        var children = afterSplit.Where(s => s.ParentShardId == parent.ShardId).OrderBy(s => s.HashKeyRange.Start).ToList();
        Assert.Equal(2, children.Count);
        Assert.All(children, c => Assert.Null(c.AdjacentParentShardId));
        Assert.True(afterSplit.Single(s => s.ShardId == parent.ShardId).IsClosed);
        // The children cover exactly the parent's range, the lower half first.
        Assert.Equal(parent.HashKeyRange.Start, children[0].HashKeyRange.Start);
        Assert.Equal(children[0].HashKeyRange.End + 1, children[1].HashKeyRange.Start);
        Assert.Equal(parent.HashKeyRange.End, children[1].HashKeyRange.End);

        // Merge the two children back into one.
        await _client.MergeShardsAsync(stream, children[0].ShardId, children[1].ShardId);
        await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);
        var afterMerge = await _client.ListAllShardsAsync(stream);
        var merged = Assert.Single(afterMerge, s => s.ParentShardId == children[0].ShardId);
        Assert.Equal(children[1].ShardId, merged.AdjacentParentShardId);
        Assert.Equal(new[] { children[0].ShardId, children[1].ShardId }, merged.Parents);
        Assert.Equal(parent.HashKeyRange, merged.HashKeyRange);
        Assert.All(children, c => Assert.True(afterMerge.Single(s => s.ShardId == c.ShardId).IsClosed));
        Assert.Equal(2, afterMerge.Count(s => !s.IsClosed));

        // Reading the closed parent gets all its records, then the end and the shards that follow.
        var parentRead = await ReadShardAsync(_client, stream, parent.ShardId, pageSize: 10);
        Assert.Equal(
            before.Records.Where(r => r.ShardId == parent.ShardId).Select(r => r.SequenceNumber),
            parentRead.Records.Select(r => r.SequenceNumber));
        Assert.True(parentRead.LastPage.IsShardEnd);
        Assert.NotNull(parentRead.LastPage.ChildShards);
        Assert.Equal(children.Select(c => c.ShardId).Order(), parentRead.LastPage.ChildShards!.Select(c => c.ShardId).Order());
        Assert.All(parentRead.LastPage.ChildShards!, c => Assert.Equal([parent.ShardId], c.ParentShards));

        // A merged-away child ends with the merged shard, which names both parents.
        var childRead = await ReadShardAsync(_client, stream, children[0].ShardId);
        Assert.True(childRead.LastPage.IsShardEnd);
        var mergedChild = Assert.Single(childRead.LastPage.ChildShards!);
        Assert.Equal(merged.ShardId, mergedChild.ShardId);
        Assert.Equal(merged.Parents.Order(), mergedChild.ParentShards.Order());

        // New writes land in open shards only.
        var after = await _client.PutRecordsAsync(stream, Enumerable.Range(0, 50).Select(i => Entry($"pk-{i}", $"after-{i}")).ToList());
        var open = afterMerge.Where(s => !s.IsClosed).Select(s => s.ShardId).ToHashSet();
        Assert.All(after.Records, r => Assert.Contains(r.ShardId!, open));
    }

    [Fact]
    public async Task ListShards_pages_through_next_tokens_and_filters()
    {
        var stream = await CreateAsync(_client, "list-shards", shards: 5);
        var all = await _client.ListAllShardsAsync(stream);
        Assert.Equal(5, all.Count);

        var paged = await _client.ListAllShardsAsync(stream, pageSize: 2);
        Assert.Equal(all.Select(s => s.ShardId), paged.Select(s => s.ShardId));
        var firstPage = await _client.ListShardsAsync(stream, maxResults: 2);
        Assert.Equal(2, firstPage.Shards.Count);
        Assert.NotNull(firstPage.NextToken);

        var afterSecond = await _client.ListAllShardsAsync(stream, new ShardFilter(ShardFilterTypes.AfterShardId, all[1].ShardId));
        Assert.Equal(all.Skip(2).Select(s => s.ShardId), afterSecond.Select(s => s.ShardId));

        // After a split, AT_LATEST lists only the open shards.
        await _client.SplitShardAsync(stream, all[0].ShardId, all[0].HashKeyRange.Midpoint());
        await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);
        var open = await _client.ListAllShardsAsync(stream, new ShardFilter(ShardFilterTypes.AtLatest));
        Assert.Equal(6, open.Count);
        Assert.DoesNotContain(open, s => s.ShardId == all[0].ShardId);
        Assert.Equal(7, (await _client.ListAllShardsAsync(stream)).Count);
    }

    [Fact]
    public async Task UpdateShardCount_scales_the_open_shards()
    {
        var stream = await CreateAsync(_client, "scale", shards: 2);
        var result = await _client.UpdateShardCountAsync(stream, 4);
        Assert.Equal(2, result.CurrentShardCount);
        Assert.Equal(4, result.TargetShardCount);

        var summary = await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);
        Assert.Equal(4, summary.OpenShardCount);
        var shards = await _client.ListAllShardsAsync(stream);
        Assert.Equal(4, shards.Count(s => !s.IsClosed));
        Assert.All(shards.Where(s => !s.IsClosed), s => Assert.NotNull(s.ParentShardId));
    }
}
