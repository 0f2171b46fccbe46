using Analytics.Grains;
using Analytics.Grains.Sources;
using Orleans.Runtime;
using Analytics.Streaming;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>The source grain's compact state on its own.</summary>
public sealed class SourceStateTests
{
    private static readonly Analytics.Grains.Windows.TierSet Tiers = new AnalyticsOptions().GetSourceTiers();

    [Fact]
    public void Buckets_and_dedup_claims_survive_serialisation()
    {
        var state = new SourceState { FirstSeen = T0 - Hour, LastSeen = T0 };
        var metric = new SourceMetric();
        metric.Attach(Tiers);
        state.Metrics["temp"] = metric;
        var random = new Random(2);
        for (var i = 0; i < 500; i++)
        {
            metric.Add(T0 - random.Next(0, 30 * 3_600_000), random.Next(-100, 100) / 8.0, Tiers, T0);
        }

        var dedup = new Deduplicator(state.Claims, 10 * Minute);
        var queue = Deduplicator.QueueHash("events:0");
        Assert.False(dedup.ClaimOrDetect("a", Deduplicator.ItemHash(queue, new QueuePosition(5)), T0));
        Assert.False(dedup.ClaimOrDetect("b", Deduplicator.ItemHash(queue, new QueuePosition(5, 1)), T0 - Minute));

        var copy = new Analytics.Grains.Persistence.JsonGrainStateSerializer().Deserialize<SourceState>(new Analytics.Grains.Persistence.JsonGrainStateSerializer().Serialize(state));
        var read = copy.Metrics["temp"];
        read.Attach(Tiers);
        Assert.Equal((metric.Last, metric.LastTimestamp), (read.Last, read.LastTimestamp));
        for (var t = 0; t < Tiers.Count; t++)
        {
            Assert.Equal(metric.Tiers[t].Cells.ToArray(), read.Tiers[t].Cells.ToArray());
        }

        Assert.Equal(state.Claims, copy.Claims);
        var again = new Deduplicator(copy.Claims, 10 * Minute);
        Assert.True(again.ClaimOrDetect("a", Deduplicator.ItemHash(queue, new QueuePosition(6)), T0));
        Assert.False(again.IsDuplicateOf("a", Deduplicator.ItemHash(queue, new QueuePosition(5))));
        Assert.True(again.IsDuplicateOf("b", Deduplicator.ItemHash(Deduplicator.QueueHash("events:1"), new QueuePosition(5, 1))));
        again.Expire(T0 + (9 * Minute) + 30_000);
        Assert.Equal(1, again.Count);
    }

    [Fact]
    public void A_series_keeps_its_buckets_sorted_and_drops_expired_ones()
    {
        var series = new BucketSeries(Minute);
        long[] minutes = [5, 1, 3, 9, 1, 7, 0];
        foreach (var m in minutes)
        {
            series.Add(m * Minute, m, capacity: 8);
        }

        Assert.Equal([0L, 1, 3, 5, 7, 9], series.Cells.ToArray().Select(c => c.Start / Minute));
        Assert.Equal(2, series.Cells[1].Count);
        series.Prune(4 * Minute);
        Assert.Equal([5L, 7, 9], series.Cells.ToArray().Select(c => c.Start / Minute));
        series.Prune(100 * Minute);
        Assert.Equal(0, series.Count);
    }
}
