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
}
