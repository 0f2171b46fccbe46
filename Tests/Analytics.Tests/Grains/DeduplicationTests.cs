using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Sources;
using Analytics.Streaming;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

public sealed class DeduplicationTests
{
    [Fact]
    public async Task Resent_events_count_once_in_the_source_and_the_metric_and_events_without_id_always_count()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        var originals = Enumerable.Range(0, 200).Select(n => Ev($"dev-{n % 5}", "temp", n, T0 - (n * 100), $"e-{n}")).ToList();
        var anonymous = Enumerable.Range(0, 20).Select(n => Ev($"dev-{n % 5}", "temp", 1000, T0 - 50)).ToList();
        await ProduceAsync(cluster, originals);
        // Resent one by one, resent inside one NDJSON record with their originals, and anonymous twins.
        await ProduceAsync(cluster, originals.Take(50));
        await ProduceNdjsonAsync(cluster, originals.Skip(150).Concat(originals.Skip(150)));
        await ProduceAsync(cluster, anonymous);
        await ProduceAsync(cluster, anonymous);

        var expected = originals.Concat(anonymous).Concat(anonymous).ToList();
        var stats = await SettledStatsAsync(cluster, "temp", expected.Count, TimeSpan.FromHours(1));
        await Task.Delay(500);
        stats = (await cluster.GrainFactory.GetGrain<IMetricGrain>("temp").GetStats(TimeSpan.FromHours(1)))!;
        Assert.Equal(expected.Count, stats.Count);
        Assert.Equal(expected.Sum(e => e.Value), stats.Sum);
        for (var s = 0; s < 5; s++)
        {
            var summary = (await cluster.GrainFactory.GetGrain<ISourceGrain>($"dev-{s}").GetSummary(TimeSpan.FromHours(1)))!;
            Assert.Equal(expected.Count(e => e.Source == $"dev-{s}"), summary.Metrics["temp"].Count);
        }
    }

    [Fact]
    public async Task Duplicates_are_reported_dropped_on_every_replay_of_a_delivery()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        var grain = cluster.GrainFactory.GetGrain<ISourceGroupGrain>(SourceGroups.KeyOf("replayed", new AnalyticsOptions().SourceGroups));
        const string queue = "test:replay";
        QueueDelivery<AnalyticsEvent> Delivery(params (long Sequence, int Sub, string? Id)[] items) => new()
        {
            Queue = queue,
            First = new QueuePosition(items[0].Sequence, items[0].Sub),
            Last = new QueuePosition(items[^1].Sequence, items[^1].Sub),
            Items = items.Select(i => Ev("replayed", "m", 1, T0, i.Id)).ToArray(),
            Positions = items.Select(i => new QueuePosition(i.Sequence, i.Sub)).ToArray(),
        };

        var first = Delivery((10, 0, "x"), (10, 1, "y"), (10, 2, "x"), (10, 3, null));
        var applied = await grain.OnNextAsync(first);
        Assert.Equal(DeliveryStatus.Applied, applied.Status);
        Assert.Equal([new QueuePosition(10, 2)], applied.Dropped);

        // The same delivery again (the agent replays from its checkpoint): same judgement.
        var replay = await grain.OnNextAsync(first);
        Assert.Equal(DeliveryStatus.AlreadyApplied, replay.Status);
        Assert.Equal([new QueuePosition(10, 2)], replay.Dropped);

        // A replay cut differently, straddling the watermark: the old part is judged, the new part is resent.
        var straddling = await grain.OnNextAsync(Delivery((10, 2, "x"), (10, 3, null), (11, 0, "x"), (11, 1, "w")));
        Assert.Equal(DeliveryStatus.ResendAfter, straddling.Status);
        Assert.Equal(new QueuePosition(10, 3), straddling.Watermark);
        Assert.Equal([new QueuePosition(10, 2)], straddling.Dropped);
        var rest = await grain.OnNextAsync(Delivery((11, 0, "x"), (11, 1, "w")));
        Assert.Equal(DeliveryStatus.Applied, rest.Status);
        Assert.Equal([new QueuePosition(11, 0)], rest.Dropped);

        // The first "x" is never a duplicate of itself, and a checkpoint is refused when behind.
        Assert.Null((await grain.OnNextAsync(Delivery((10, 0, "x")))).Dropped);
        Assert.Equal(CheckpointAnswer.Gap, await grain.OnCheckpointAsync(new QueueCheckpointRequest(queue, new QueuePosition(12, 0))));
        Assert.Equal(CheckpointAnswer.Flushed, await grain.OnCheckpointAsync(new QueueCheckpointRequest(queue, new QueuePosition(11, 1))));
        var summary = (await grain.GetSummary("replayed", TimeSpan.FromHours(1)))!;
        Assert.Equal(4, summary.Metrics["m"].Count); // x, y, the anonymous one, w
        Assert.Equal(summary.Metrics["m"].Count, (await cluster.GrainFactory.GetGrain<ISourceGrain>("replayed").GetSummary(TimeSpan.FromHours(1)))!.Metrics["m"].Count);
    }

    [Fact]
    public async Task An_id_is_a_duplicate_only_within_the_horizon_of_its_first_arrival()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        var e = Ev("dev-1", "door", 1, T0 - Second, "open-1");
        var grain = cluster.GrainFactory.GetGrain<IMetricGrain>("door");
        await ProduceAsync(cluster, [e]);
        await SettledStatsAsync(cluster, "door", 1, TimeSpan.FromHours(1));

        clock.Advance(TimeSpan.FromMinutes(9));
        await ProduceAsync(cluster, [e, Ev("dev-1", "door", 5, T0, "marker-1")]);
        await SettledStatsAsync(cluster, "door", 2, TimeSpan.FromHours(1));
        Assert.Equal(6, (await grain.GetStats(TimeSpan.FromHours(1)))!.Sum); // the resend was dropped

        clock.Advance(TimeSpan.FromMinutes(2)); // 11 minutes after the first arrival
        await ProduceAsync(cluster, [e]);
        var stats = await SettledStatsAsync(cluster, "door", 3, TimeSpan.FromHours(1));
        Assert.Equal(7, stats.Sum);
        var summary = (await cluster.GrainFactory.GetGrain<ISourceGrain>("dev-1").GetSummary(TimeSpan.FromHours(1)))!;
        Assert.Equal(3, summary.Metrics["door"].Count);
    }

    private static readonly long Queue = Deduplicator.QueueHash("events:0");

    private static long Item(long sequence) => Deduplicator.ItemHash(Queue, new QueuePosition(sequence));

    private static long Key(string id) => Deduplicator.ClaimKey("dev-1", id);

    /// <summary>What a source group's write does with its unsegmented claims, the storage left out.</summary>
    private static (byte[] Inline, (string Name, long Newest, byte[] Claims)? Segment) Write(Deduplicator dedup, string segmentName)
    {
        if (dedup.FitsInline)
        {
            return (dedup.EncodeUnsegmented(out _), null);
        }

        var claims = dedup.EncodeUnsegmented(out var newest);
        dedup.SegmentWritten(segmentName, newest, dedup.Unsegmented);
        return ([], (segmentName, newest, claims));
    }

    [Fact]
    public void Claims_within_the_inline_limit_stay_unsegmented_across_writes_and_still_count_after_a_reload()
    {
        var dedup = new Deduplicator(10 * Minute, inlineLimit: 3);
        Assert.False(dedup.ClaimOrDetect(Key("a"), Item(1), T0));
        Assert.False(dedup.ClaimOrDetect(Key("b"), Item(2), T0 + Second));
        var first = Write(dedup, "s1");
        Assert.Null(first.Segment);
        Assert.Equal(2 * 24, first.Inline.Length);
        Assert.Equal(2, dedup.Unsegmented);

        // The second write carries the first one's claims again, with the new one.
        Assert.False(dedup.ClaimOrDetect(Key("c"), Item(3), T0 + Minute));
        var second = Write(dedup, "s2");
        Assert.Null(second.Segment);
        Assert.Equal(3 * 24, second.Inline.Length);
        Assert.Equal(first.Inline, second.Inline[..first.Inline.Length]);
        Assert.Equal(3, dedup.Unsegmented);

        var loaded = new Deduplicator(10 * Minute, inlineLimit: 3);
        loaded.LoadInline(second.Inline);
        Assert.Equal((3, 3), (loaded.Count, loaded.Unsegmented));
        Assert.True(loaded.ClaimOrDetect(Key("a"), Item(9), T0 + (2 * Minute)));
        Assert.False(loaded.ClaimOrDetect(Key("b"), Item(2), T0 + (2 * Minute))); // its own claim, on a replay
        Assert.True(loaded.IsDuplicateOf(Key("c"), Item(8)));
        Assert.False(loaded.IsDuplicateOf(Key("d"), Item(8)));
        Assert.Equal(3, loaded.Unsegmented); // detecting claims nothing new
    }

    [Fact]
    public void Past_the_inline_limit_every_unsegmented_claim_goes_into_one_segment()
    {
        var dedup = new Deduplicator(10 * Minute, inlineLimit: 3);
        dedup.ClaimOrDetect(Key("a"), Item(1), T0);
        dedup.ClaimOrDetect(Key("b"), Item(2), T0 + Second);
        Assert.Null(Write(dedup, "s1").Segment);
        dedup.ClaimOrDetect(Key("c"), Item(3), T0 + Minute);
        dedup.ClaimOrDetect(Key("d"), Item(4), T0 + (2 * Minute));
        Assert.False(dedup.FitsInline);

        // The claims written inline before go too: the state then holds no inline claims.
        var (inline, segment) = Write(dedup, "s2");
        Assert.Empty(inline);
        Assert.Equal(("s2", T0 + (2 * Minute), 4 * 24), (segment!.Value.Name, segment.Value.Newest, segment.Value.Claims.Length));
        Assert.Equal((4, 0), (dedup.Count, dedup.Unsegmented));

        dedup.ClaimOrDetect(Key("e"), Item(5), T0 + (3 * Minute));
        var next = Write(dedup, "s3");
        Assert.Null(next.Segment);
        Assert.Equal(24, next.Inline.Length);

        // A fresh activation: the segments, then the inline claims.
        var loaded = new Deduplicator(10 * Minute, inlineLimit: 3);
        loaded.Load("s2", segment.Value.Newest, segment.Value.Claims);
        loaded.LoadInline(next.Inline);
        Assert.Equal((5, 1), (loaded.Count, loaded.Unsegmented));
        Assert.All(new[] { "a", "b", "c", "d", "e" }, id => Assert.True(loaded.IsDuplicateOf(Key(id), Item(100))));

        // The segment expires as a whole, after its newest claim; the inline one on its own.
        Assert.Empty(loaded.Expire(T0 + (12 * Minute)));
        Assert.Equal(["s2"], loaded.Expire(T0 + (12 * Minute) + 1));
        Assert.Equal((1, 1), (loaded.Count, loaded.Unsegmented));
        loaded.Expire(T0 + (13 * Minute) + 1);
        Assert.Equal((0, 0), (loaded.Count, loaded.Unsegmented));
    }

    [Fact]
    public void Inline_claims_past_the_horizon_expire_one_at_a_time()
    {
        var dedup = new Deduplicator(10 * Minute, inlineLimit: 16);
        dedup.ClaimOrDetect(Key("a"), Item(1), T0);
        dedup.ClaimOrDetect(Key("b"), Item(2), T0 + Minute);
        dedup.ClaimOrDetect(Key("c"), Item(3), T0 + (2 * Minute));

        Assert.Empty(dedup.Expire(T0 + (10 * Minute))); // a is exactly at the horizon: kept
        Assert.Equal((3, 3), (dedup.Count, dedup.Unsegmented));
        Assert.Empty(dedup.Expire(T0 + (10 * Minute) + 1));
        Assert.Equal((2, 2), (dedup.Count, dedup.Unsegmented));
        Assert.False(dedup.IsDuplicateOf(Key("a"), Item(9)));
        Assert.True(dedup.IsDuplicateOf(Key("b"), Item(9)));

        // b, past the horizon but not yet expired, is claimed anew; expiring the old claim keeps the new one.
        Assert.False(dedup.ClaimOrDetect(Key("b"), Item(7), T0 + (11 * Minute) + 1));
        Assert.Equal(3, dedup.Unsegmented);
        dedup.Expire(T0 + (11 * Minute) + 1);
        Assert.Equal((2, 2), (dedup.Count, dedup.Unsegmented));
        Assert.True(dedup.IsDuplicateOf(Key("b"), Item(2)));
        Assert.False(dedup.IsDuplicateOf(Key("b"), Item(7)));

        // What is written inline is what is left: c, then the new claim of b.
        var loaded = new Deduplicator(10 * Minute, inlineLimit: 16);
        loaded.LoadInline(Write(dedup, "unused").Inline);
        Assert.Equal((2, 2), (loaded.Count, loaded.Unsegmented));
        Assert.True(loaded.IsDuplicateOf(Key("b"), Item(2)));
        loaded.Expire(T0 + (12 * Minute) + 1);
        Assert.False(loaded.IsDuplicateOf(Key("c"), Item(9)));
        Assert.True(loaded.IsDuplicateOf(Key("b"), Item(2)));
        Assert.Equal((1, 1), (loaded.Count, loaded.Unsegmented));
    }
}
