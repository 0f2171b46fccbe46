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
    public void Buckets_and_dedup_claims_survive_serialisation_of_the_group()
    {
        var state = new SourceGroupState();
        var record = new SourceRecord();
        state.Sources["dev-1"] = record;
        state.Sources["dev-2"] = new SourceRecord();
        state.Watermarks.Applied["events:0"] = new QueuePosition(7, 2).ToString();
        var random = new Random(2);
        for (var i = 0; i < 500; i++)
        {
            record.Add(i % 3 == 0 ? "humidity" : "temp", T0 - random.Next(0, 30 * 3_600_000), random.Next(-100, 100) / 8.0, Tiers, T0);
        }

        var dedup = record.Dedup(10 * Minute);
        var queue = Deduplicator.QueueHash("events:0");
        Assert.False(dedup.ClaimOrDetect("a", Deduplicator.ItemHash(queue, new QueuePosition(5)), T0));
        Assert.False(dedup.ClaimOrDetect("b", Deduplicator.ItemHash(queue, new QueuePosition(5, 1)), T0 - Minute));

        var serializer = new Analytics.Grains.Persistence.JsonGrainStateSerializer();
        var copy = serializer.Deserialize<SourceGroupState>(serializer.Serialize(state));
        Assert.Equal(state.Watermarks.Applied, copy.Watermarks.Applied);
        Assert.Equal(["dev-1", "dev-2"], copy.Sources.Keys.Order());
        Assert.Null(copy.Sources["dev-2"].FirstSeen);
        var read = copy.Sources["dev-1"];
        Assert.Equal((record.FirstSeen, record.LastSeen), (read.FirstSeen, read.LastSeen));
        foreach (var (name, metric) in record.Metrics)
        {
            var readMetric = read.Metrics[name];
            readMetric.Attach(Tiers);
            Assert.Equal((metric.Last, metric.LastTimestamp), (readMetric.Last, readMetric.LastTimestamp));
            for (var t = 0; t < Tiers.Count; t++)
            {
                Assert.Equal(metric.Tiers[t].Cells.ToArray(), readMetric.Tiers[t].Cells.ToArray());
            }
        }

        Assert.Equal(record.Claims, read.Claims);
        var again = read.Dedup(10 * Minute);
        Assert.True(again.ClaimOrDetect("a", Deduplicator.ItemHash(queue, new QueuePosition(6)), T0));
        Assert.False(again.IsDuplicateOf("a", Deduplicator.ItemHash(queue, new QueuePosition(5))));
        Assert.True(again.IsDuplicateOf("b", Deduplicator.ItemHash(Deduplicator.QueueHash("events:1"), new QueuePosition(5, 1))));
        again.Expire(T0 + (9 * Minute) + 30_000);
        Assert.Equal(1, again.Count);
    }

    [Fact]
    public void A_record_of_an_unknown_format_is_refused_with_a_clear_error()
    {
        var encoded = new SourceRecord().Encode();
        encoded[0] = 9;
        var error = Assert.Throws<InvalidDataException>(() => SourceRecord.Decode(encoded));
        Assert.Contains("format 9", error.Message);
    }

    [Fact]
    public void Sources_spread_over_the_groups_and_always_map_to_the_same_one()
    {
        var groups = new AnalyticsOptions().SourceGroups;
        var counts = new int[groups];
        for (var i = 0; i < 64_000; i++)
        {
            counts[SourceGroups.Of($"device-{i}", groups)]++;
        }

        // 1,000 a group on average; a fair hash stays well within 20% of it.
        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
        // Fixed values: a change of the hash would move every source to another group.
        Assert.Equal([56, 50, 962], [SourceGroups.Of("dev-1", 64), SourceGroups.Of("device-00042", 64), SourceGroups.Of("device-00042", 1000)]);
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
