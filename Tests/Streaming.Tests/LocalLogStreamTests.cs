using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Streaming.Tests;

/// <summary>The local-log provider end to end on an Orleans test cluster: direct consumers, stream consumers, checkpoints.</summary>
public sealed class LocalLogStreamTests : IDisposable
{
    private readonly TestData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Every_record_reaches_its_consumers_once_and_in_order_per_key()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings);
        await cluster.AppendAsync(0, 3000, keys: 30);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(30) >= 3000, "all 3000 items arrive");
        await Task.Delay(500);
        await cluster.AssertExactAsync(3000, keys: 30);
        var dedup = await cluster.Grains.GetGrain<IDedupGrain>(StreamCluster.Key(7)).IdsAsync();
        Assert.Equal(100, dedup.Count);
        Assert.Equal(4, cluster.Statistics.Count(s => s.Active));
        Assert.True(cluster.Statistics.Sum(s => s.Records) >= 3000);
    }

    [Fact]
    public async Task Items_packed_several_to_a_record_by_queue_affinity_arrive_once_in_order()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings);
        var writer = cluster.Writer;
        var records = Enumerable.Range(0, 2000)
            .Select(n => StreamCluster.Item(n, 25))
            .GroupBy(i => writer.GetQueueAffinity(i.Key))
            .SelectMany(g => g.Chunk(7))
            .Select(chunk => (chunk[0].Key, TestItem.Encode(chunk)))
            .ToList();
        await cluster.AppendAsync(records);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(25) >= 2000, "all 2000 items arrive");
        await Task.Delay(300);
        await cluster.AssertExactAsync(2000, keys: 25);
    }

    [Fact]
    public async Task Duplicates_are_dropped_by_the_direct_consumer_before_the_stream_consumer_sees_them()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings);
        await cluster.AppendAsync(0, 1000, keys: 10);
        // The same events again, as a producer that retried would send them.
        await cluster.AppendAsync(0, 500, keys: 10);
        await cluster.AppendAsync(1000, 200, keys: 10);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(10) >= 1200, "all 1200 distinct items arrive");
        await Task.Delay(500);
        await cluster.AssertExactAsync(1200, keys: 10);
        Assert.True(cluster.Statistics.Sum(s => s.Dropped) >= 500);
    }

    [Fact]
    public async Task A_poison_record_goes_to_the_dead_letter_store_once_and_the_queue_goes_on()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { CheckpointInterval = TimeSpan.FromSeconds(3) });
        var key = StreamCluster.Key(0);
        await cluster.AppendAsync([
            (key, TestItem.Encode(StreamCluster.Item(0, 1))),
            (key, "!poison"u8.ToArray()),
            (key, TestItem.Encode(StreamCluster.Item(1, 1))),
        ]);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(1) >= 2, "the good records arrive");
        await cluster.AssertExactAsync(2, keys: 1);
        var deadLetters = cluster.LiveSilo.ServiceProvider.GetRequiredKeyedService<IDeadLetterStore>(StreamCluster.Provider);
        var letter = Assert.Single(await deadLetters.ListAsync(10, CancellationToken.None));
        Assert.Equal("!poison", System.Text.Encoding.UTF8.GetString(letter.Data));
        Assert.Contains("not id:key:value", letter.Reason);

        // A replay over the poison record (the dedup grain forgets what it had not written) keeps it once.
        Assert.True(await cluster.Grains.GetGrain<IDedupGrain>(key).LoseUnflushedAsync());
        await cluster.AppendAsync([(key, TestItem.Encode(StreamCluster.Item(2, 1)))]);
        await Eventually.TrueAsync(async () => await cluster.CountAsync(1) >= 3, "the next record arrives after the replay");
        await cluster.AssertExactAsync(3, keys: 1);
        Assert.True(cluster.Statistics.Sum(s => s.Rewinds) >= 1);
        Assert.Equal(1, await deadLetters.CountAsync(CancellationToken.None));
        Assert.Equal(1, cluster.Statistics.Sum(s => s.PoisonRecords));
    }

    [Fact]
    public async Task A_stream_consumer_that_loses_unflushed_effects_makes_the_receiver_replay_and_totals_stay_exact()
    {
        // Checkpoints seldom, so that the sum grains hold applied effects they have not written.
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { CheckpointInterval = TimeSpan.FromSeconds(3) });
        await cluster.AppendAsync(0, 600, keys: 6);
        await Eventually.TrueAsync(async () => await cluster.CountAsync(6) >= 600, "the first 600 arrive");

        var lost = await Task.WhenAll(Enumerable.Range(0, 6).Select(k => cluster.Grains.GetGrain<ISumGrain>(StreamCluster.Key(k)).LoseUnflushedAsync()));
        Assert.Contains(true, lost);
        await cluster.AppendAsync(600, 600, keys: 6);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(6) >= 1200, "all 1200 arrive after the replay");
        await Task.Delay(500);
        await cluster.AssertExactAsync(1200, keys: 6);
        Assert.True(cluster.Statistics.Sum(s => s.Rewinds) >= 1);
    }

    [Fact]
    public async Task A_direct_consumer_that_loses_unflushed_effects_makes_the_receiver_replay_and_totals_stay_exact()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { CheckpointInterval = TimeSpan.FromSeconds(3) });
        await cluster.AppendAsync(0, 600, keys: 6);
        await Eventually.TrueAsync(async () => await cluster.CountAsync(6) >= 600, "the first 600 arrive");

        var lost = await Task.WhenAll(Enumerable.Range(0, 6).Select(k => cluster.Grains.GetGrain<IDedupGrain>(StreamCluster.Key(k)).LoseUnflushedAsync()));
        Assert.Contains(true, lost);
        // Duplicates of what the dedup grains forgot, and new items.
        await cluster.AppendAsync(0, 600, keys: 6);
        await cluster.AppendAsync(600, 600, keys: 6);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(6) >= 1200, "all 1200 arrive after the replay");
        await Task.Delay(500);
        await cluster.AssertExactAsync(1200, keys: 6);
        Assert.True(cluster.Statistics.Sum(s => s.Rewinds) >= 1);
    }
}
