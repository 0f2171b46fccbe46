using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Sources;
using Analytics.Streaming;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>Source groups: many sources in one grain and one state, and writes that serve every queue's checkpoint.</summary>
public sealed class SourceGroupTests
{
    private static QueueDelivery<AnalyticsEvent> Delivery(string queue, long sequence, string source, QueuePosition? previous = null) => new()
    {
        Queue = queue,
        First = new QueuePosition(sequence),
        Last = new QueuePosition(sequence),
        Previous = previous,
        Items = [Ev(source, "m", 1, T0)],
        Positions = [new QueuePosition(sequence)],
    };

    [Fact]
    public async Task A_checkpoint_that_an_earlier_write_covers_is_confirmed_without_writing_again()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        var group = cluster.GrainFactory.GetGrain<ISourceGroupGrain>("test-group");
        Assert.Equal(DeliveryStatus.Applied, (await group.OnNextAsync(Delivery("test:a", 1, "s1"))).Status);
        Assert.Equal(DeliveryStatus.Applied, (await group.OnNextAsync(Delivery("test:b", 1, "s2"))).Status);

        var before = cluster.StateWrites;
        Assert.Equal(CheckpointAnswer.Flushed, await group.OnCheckpointAsync(new QueueCheckpointRequest("test:a", new QueuePosition(1))));
        Assert.Equal(before + 1, cluster.StateWrites);
        // That write held queue b's effects too, so b's checkpoint needs no write of its own.
        Assert.Equal(CheckpointAnswer.Flushed, await group.OnCheckpointAsync(new QueueCheckpointRequest("test:b", new QueuePosition(1))));
        Assert.Equal(before + 1, cluster.StateWrites);

        // What was applied after the write does need one.
        Assert.Equal(DeliveryStatus.Applied, (await group.OnNextAsync(Delivery("test:b", 2, "s2", previous: new QueuePosition(1)))).Status);
        Assert.Equal(CheckpointAnswer.Flushed, await group.OnCheckpointAsync(new QueueCheckpointRequest("test:b", new QueuePosition(2))));
        Assert.Equal(before + 2, cluster.StateWrites);
        Assert.Equal(2, (await group.GetSummary("s2", TimeSpan.FromHours(1)))!.Metrics["m"].Count);
        Assert.Null(await group.GetSummary("s3", TimeSpan.FromHours(1)));
    }

    [Fact]
    public async Task Hundreds_of_sources_share_their_groups_and_each_answers_with_its_own_events()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        const int Sources = 300;
        var events = Enumerable.Range(0, 3000).Select(n => Ev($"device-{n % Sources}", n / Sources % 2 == 0 ? "temp" : "rpm", n, T0 - (n * 10), $"e-{n}")).ToList();
        await ProduceAsync(cluster, events);
        await SettledStatsAsync(cluster, "temp", 1500, TimeSpan.FromHours(1));

        var groups = new AnalyticsOptions().SourceGroups;
        // 300 sources over 64 groups: nearly every group is used, and each holds several sources.
        var perGroup = Enumerable.Range(0, Sources).GroupBy(s => SourceGroups.Of($"device-{s}", groups)).ToList();
        Assert.InRange(perGroup.Count, 60, groups);
        Assert.Contains(perGroup, g => g.Count() >= 5);
        for (var s = 0; s < Sources; s += 7)
        {
            var mine = events.Where(e => e.Source == $"device-{s}").ToList();
            var viaSource = (await cluster.GrainFactory.GetGrain<ISourceGrain>($"device-{s}").GetSummary(TimeSpan.FromHours(1)))!;
            var viaGroup = (await cluster.GrainFactory.GetGrain<ISourceGroupGrain>(SourceGroups.KeyOf($"device-{s}", groups)).GetSummary($"device-{s}", TimeSpan.FromHours(1)))!;
            foreach (var metric in new[] { "temp", "rpm" })
            {
                var expected = mine.Where(e => e.Metric == metric).ToList();
                Assert.Equal(expected.Count, viaSource.Metrics[metric].Count);
                Assert.Equal(expected.Max(e => e.Value), viaSource.Metrics[metric].Max);
                Assert.Equal(viaGroup.Metrics[metric], viaSource.Metrics[metric]);
            }

            Assert.Equal((mine.Min(e => e.Timestamp), mine.Max(e => e.Timestamp)), (viaSource.FirstSeen, viaSource.LastSeen));
        }
    }

    /// <summary>One delivery of items with ids, at sub-sequences 0, 1, ... of one sequence number.</summary>
    private static QueueDelivery<AnalyticsEvent> WithIds(long sequence, QueuePosition? previous, params string[] ids) => new()
    {
        Queue = "test:a",
        First = new QueuePosition(sequence, 0),
        Last = new QueuePosition(sequence, ids.Length - 1),
        Previous = previous,
        Items = ids.Select(id => Ev("s1", "m", 1, T0, id)).ToArray(),
        Positions = ids.Select((_, i) => new QueuePosition(sequence, i)).ToArray(),
    };

    private static async Task CheckpointAsync(ISourceGroupGrain group, QueuePosition position) =>
        Assert.Equal(CheckpointAnswer.Flushed, await group.OnCheckpointAsync(new QueueCheckpointRequest("test:a", position)));

    /// <summary>Moves every grain to a new silo: each writes on deactivation and activates again from storage.</summary>
    private static async Task ReactivateAsync(AnalyticsCluster cluster)
    {
        var first = cluster.Silos[0];
        await cluster.StartAdditionalSiloAsync();
        await cluster.WaitForLivenessToStabilizeAsync();
        await cluster.StopSiloAsync(first);
        await cluster.WaitForLivenessToStabilizeAsync();
    }

    [Fact]
    public async Task Few_claims_a_write_go_inline_with_the_state_and_still_drop_duplicates_after_a_reactivation()
    {
        await using var cluster = await StartAsync(clock: new ManualClock(T0));
        var group = cluster.GrainFactory.GetGrain<ISourceGroupGrain>("inline");
        Assert.Null((await group.OnNextAsync(WithIds(1, null, "x", "y"))).Dropped);
        var before = cluster.StateWrites;
        await CheckpointAsync(group, new QueuePosition(1, 1));
        Assert.Null((await group.OnNextAsync(WithIds(2, new QueuePosition(1, 1), "z"))).Dropped);
        await CheckpointAsync(group, new QueuePosition(2, 0));

        // Two writes with claims, each the state alone: no segment was written.
        Assert.Equal(before + 2, cluster.StateWrites);
        Assert.Equal(0, cluster.StoredStates("sources-claims-"));

        await ReactivateAsync(cluster);
        // Every claim came back from the state's inline claims, the first write's ones too.
        var resent = await group.OnNextAsync(WithIds(3, new QueuePosition(2, 0), "x", "z", "y", "w"));
        Assert.Equal(DeliveryStatus.Applied, resent.Status);
        Assert.Equal([new QueuePosition(3, 0), new QueuePosition(3, 1), new QueuePosition(3, 2)], resent.Dropped);
        Assert.Equal(4, (await group.GetSummary("s1", TimeSpan.FromHours(1)))!.Metrics["m"].Count); // x, y, z, w
        Assert.Equal(0, cluster.StoredStates("sources-claims-"));
    }

    [Fact]
    public async Task More_claims_than_the_inline_limit_go_into_a_segment_and_later_ones_inline_again()
    {
        await using var cluster = await StartAsync(clock: new ManualClock(T0), configure: o => o.InlineClaims = 3);
        var group = cluster.GrainFactory.GetGrain<ISourceGroupGrain>("over-limit");
        await group.OnNextAsync(WithIds(1, null, "a", "b"));
        await CheckpointAsync(group, new QueuePosition(1, 1));
        Assert.Equal(0, cluster.StoredStates("sources-claims-"));

        // Two more make four unsegmented claims, over the limit of 3: all four go into one segment.
        var before = cluster.StateWrites;
        await group.OnNextAsync(WithIds(2, new QueuePosition(1, 1), "c", "d"));
        await CheckpointAsync(group, new QueuePosition(2, 1));
        Assert.Equal(before + 2, cluster.StateWrites); // the segment, then the state
        Assert.Equal(1, cluster.StoredStates("sources-claims-"));

        await group.OnNextAsync(WithIds(3, new QueuePosition(2, 1), "e"));
        await CheckpointAsync(group, new QueuePosition(3, 0));
        Assert.Equal(before + 3, cluster.StateWrites);
        Assert.Equal(1, cluster.StoredStates("sources-claims-"));

        // A fresh activation has them all again: the segment's four and e, inline.
        await ReactivateAsync(cluster);
        var resent = await group.OnNextAsync(WithIds(4, new QueuePosition(3, 0), "e", "a", "d", "f"));
        Assert.Equal([new QueuePosition(4, 0), new QueuePosition(4, 1), new QueuePosition(4, 2)], resent.Dropped);
        Assert.Equal(6, (await group.GetSummary("s1", TimeSpan.FromHours(1)))!.Metrics["m"].Count);
    }

    [Fact]
    public async Task With_inline_claims_off_each_write_adds_one_segment_of_new_claims_and_expired_segments_are_deleted()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock, configure: o => o.InlineClaims = 0);
        var group = cluster.GrainFactory.GetGrain<ISourceGroupGrain>("segments");
        QueueDelivery<AnalyticsEvent> WithId(long sequence, string? id, QueuePosition? previous) => new()
        {
            Queue = "test:a",
            First = new QueuePosition(sequence),
            Last = new QueuePosition(sequence),
            Previous = previous,
            Items = [Ev("s1", "m", 1, T0, id)],
            Positions = [new QueuePosition(sequence)],
        };

        async Task WriteAsync(long sequence) =>
            Assert.Equal(CheckpointAnswer.Flushed, await group.OnCheckpointAsync(new QueueCheckpointRequest("test:a", new QueuePosition(sequence))));

        await group.OnNextAsync(WithId(1, "x", null));
        await WriteAsync(1);
        Assert.Equal(1, cluster.StoredStates("sources-claims-"));
        clock.Advance(TimeSpan.FromMinutes(6));
        await group.OnNextAsync(WithId(2, "y", new QueuePosition(1)));
        await WriteAsync(2);
        Assert.Equal(2, cluster.StoredStates("sources-claims-"));

        // A write with no new claim adds no segment; one past the first segment's horizon deletes it.
        await group.OnNextAsync(WithId(3, null, new QueuePosition(2)));
        await WriteAsync(3);
        Assert.Equal(2, cluster.StoredStates("sources-claims-"));
        Assert.Equal([new QueuePosition(4)], (await group.OnNextAsync(WithId(4, "x", new QueuePosition(3)))).Dropped);
        clock.Advance(TimeSpan.FromMinutes(5));
        await group.OnNextAsync(WithId(5, "z", new QueuePosition(4)));
        await WriteAsync(5);
        Assert.Equal(2, cluster.StoredStates("sources-claims-")); // y's segment, and z's
        // x's claim went with its segment: x is new again. y's is still held.
        Assert.Null((await group.OnNextAsync(WithId(6, "x", new QueuePosition(5)))).Dropped);
        Assert.Equal([new QueuePosition(7)], (await group.OnNextAsync(WithId(7, "y", new QueuePosition(6)))).Dropped);
        Assert.Equal(5, (await group.GetSummary("s1", TimeSpan.FromHours(1)))!.Metrics["m"].Count);
    }
}
