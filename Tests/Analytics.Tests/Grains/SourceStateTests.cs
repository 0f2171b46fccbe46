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
    public void Buckets_and_the_claim_segment_list_survive_serialisation_of_the_group()
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

        var serializer = new Analytics.Grains.Persistence.JsonGrainStateSerializer();
        state.ClaimSegments.Add(new ClaimSegmentRef("a1", T0));
        state.RetiredSegments.Add("b2");
        var copy = serializer.Deserialize<SourceGroupState>(serializer.Serialize(state));
        Assert.Equal(state.Watermarks.Applied, copy.Watermarks.Applied);
        Assert.Equal(["dev-1", "dev-2"], copy.Sources.Keys.Order());
        Assert.Equal(state.ClaimSegments, copy.ClaimSegments);
        Assert.Equal(state.RetiredSegments, copy.RetiredSegments);
        Assert.Equal(state.NextSegment, copy.NextSegment);
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
    }

    [Fact]
    public void With_inline_claims_off_claims_are_written_a_segment_at_a_time_and_expire_a_segment_at_a_time()
    {
        var dedup = new Deduplicator(10 * Minute, inlineLimit: 0);
        var queue = Deduplicator.QueueHash("events:0");
        long Item(long sequence) => Deduplicator.ItemHash(queue, new QueuePosition(sequence));
        var a = Deduplicator.ClaimKey("dev-1", "a");
        Assert.NotEqual(a, Deduplicator.ClaimKey("dev-2", "a")); // ids are per source
        Assert.False(dedup.ClaimOrDetect(a, Item(1), T0));
        Assert.False(dedup.ClaimOrDetect(Deduplicator.ClaimKey("dev-1", "b"), Item(2), T0 + Minute));
        Assert.True(dedup.ClaimOrDetect(a, Item(3), T0 + Minute));
        Assert.False(dedup.ClaimOrDetect(a, Item(1), T0 + Minute)); // its own claim, on a replay
        Assert.Equal(2, dedup.Unsegmented);
        Assert.False(dedup.FitsInline);

        var first = dedup.EncodeUnsegmented(out var newest);
        Assert.Equal(T0 + Minute, newest);
        dedup.SegmentWritten("s1", newest, 2);
        Assert.Equal(0, dedup.Unsegmented);
        Assert.True(dedup.FitsInline); // nothing to write: an empty inline set
        Assert.False(dedup.ClaimOrDetect(Deduplicator.ClaimKey("dev-1", "c"), Item(4), T0 + (5 * Minute)));
        var second = dedup.EncodeUnsegmented(out var newest2);
        dedup.SegmentWritten("s2", newest2, 1);

        // A fresh activation loads the segments and judges exactly as before.
        var loaded = new Deduplicator(10 * Minute, inlineLimit: 0);
        loaded.Load("s1", newest, first);
        loaded.Load("s2", newest2, second);
        Assert.Equal(3, loaded.Count);
        Assert.True(loaded.IsDuplicateOf(a, Item(3)));
        Assert.False(loaded.IsDuplicateOf(a, Item(1)));
        Assert.Equal(0, loaded.Unsegmented);

        // Expiry drops whole segments, once their newest claim is past the horizon.
        Assert.Empty(loaded.Expire(T0 + (10 * Minute)));
        Assert.Equal(["s1"], loaded.Expire(T0 + (11 * Minute) + 1));
        Assert.Equal(1, loaded.Count);
        Assert.False(loaded.IsDuplicateOf(a, Item(3)));
        // An expired id is claimed again by a new item, and that claim outlives the old segment.
        Assert.False(loaded.ClaimOrDetect(a, Item(9), T0 + (12 * Minute)));
        Assert.Equal(["s2"], loaded.Expire(T0 + (16 * Minute)));
        Assert.True(loaded.IsDuplicateOf(a, Item(3)));
        Assert.Throws<InvalidDataException>(() => loaded.Load("bad", T0, new byte[25]));
    }

    [Fact]
    public void Inline_claims_survive_serialisation_of_the_group_byte_for_byte()
    {
        var dedup = new Deduplicator(10 * Minute, inlineLimit: 16);
        var queue = Deduplicator.QueueHash("events:0");
        for (var i = 0; i < 5; i++)
        {
            dedup.ClaimOrDetect(Deduplicator.ClaimKey("dev-1", $"id-{i}"), Deduplicator.ItemHash(queue, new QueuePosition(i)), T0 + i);
        }

        var state = new SourceGroupState { InlineClaims = dedup.EncodeUnsegmented(out _) };
        state.ClaimSegments.Add(new ClaimSegmentRef("a1", T0 - Minute));
        var serializer = new Analytics.Grains.Persistence.JsonGrainStateSerializer();
        var json = serializer.Serialize(state);
        var copy = serializer.Deserialize<SourceGroupState>(json);
        Assert.Equal(5 * 24, copy.InlineClaims.Length);
        Assert.Equal(state.InlineClaims, copy.InlineClaims);
        Assert.Equal(state.ClaimSegments, copy.ClaimSegments);
        // Base64 in the JSON: what the default of Analytics:InlineClaims is sized by.
        Assert.Contains($"\"InlineClaims\":\"{Convert.ToBase64String(state.InlineClaims)}\"", json.ToString());

        var loaded = new Deduplicator(10 * Minute, inlineLimit: 16);
        loaded.LoadInline(copy.InlineClaims);
        Assert.Equal(5, loaded.Unsegmented);
        Assert.True(loaded.IsDuplicateOf(Deduplicator.ClaimKey("dev-1", "id-3"), Deduplicator.ItemHash(queue, new QueuePosition(99))));
        Assert.False(loaded.IsDuplicateOf(Deduplicator.ClaimKey("dev-1", "id-3"), Deduplicator.ItemHash(queue, new QueuePosition(3))));
        Assert.Throws<InvalidDataException>(() => loaded.LoadInline(new byte[30]));
    }

    [Fact]
    public void A_group_state_written_before_inline_claims_loads_with_none()
    {
        // The layout main wrote before the property existed: no InlineClaims at all.
        const string Old = """
            {"Watermarks":{"Applied":{"events:0":"7.2"}},"Sources":{},
             "ClaimSegments":[{"Name":"a1","NewestArrival":1795255205000}],"NextSegment":"0123456789abcdef","RetiredSegments":["b2"]}
            """;
        var serializer = new Analytics.Grains.Persistence.JsonGrainStateSerializer();
        var state = serializer.Deserialize<SourceGroupState>(BinaryData.FromString(Old));
        Assert.NotNull(state.InlineClaims);
        Assert.Empty(state.InlineClaims);
        Assert.Equal([new ClaimSegmentRef("a1", T0)], state.ClaimSegments);
        Assert.Equal("0123456789abcdef", state.NextSegment);
        Assert.Equal(["b2"], state.RetiredSegments);
        Assert.Equal(new QueuePosition(7, 2), state.Watermarks.Get("events:0"));

        // Its activation adds no unsegmented claims to those of its segments.
        var dedup = new Deduplicator(10 * Minute, inlineLimit: 16);
        dedup.LoadInline(state.InlineClaims);
        Assert.Equal((0, 0), (dedup.Count, dedup.Unsegmented));
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
