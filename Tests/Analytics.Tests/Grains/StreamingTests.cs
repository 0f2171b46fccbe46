using System.Text;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Sources;
using Analytics.Grains.Streaming;
using Analytics.Streaming;
using Microsoft.Extensions.Options;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>The decoder and the page handler on their own.</summary>
public sealed class StreamingTests
{
    private static readonly EventRecordDecoder Decoder = new(EventValidationOptions.ForStoredEvents(), new ManualClock(T0));

    private static QueueRecord Record(string text, long sequence = 42, string key = "whatever") =>
        new(key, Encoding.UTF8.GetBytes(text), new QueuePosition(sequence));

    [Fact]
    public void Each_event_of_a_record_becomes_an_item_of_its_source_with_its_index_as_sub_sequence()
    {
        var items = new List<QueueItem>();
        var at = TimestampParser.Format(T0);
        var error = Decoder.Decode(Record(
            $$"""
            {"source":"a","metric":"m","value":1,"timestamp":"{{at}}","id":"i1"}
            {"source":"b","values":{"x":2,"y":3},"timestamp":"{{at}}","id":"i2"}
            """), items);

        Assert.Null(error);
        Assert.Equal([0, 1, 2], items.Select(i => i.Position.SubSequence));
        Assert.All(items, i => Assert.Equal("42", i.Position.Sequence));
        Assert.Equal(["a", "b", "b"], items.Select(i => i.StreamKey));
        var events = items.Select(i => (AnalyticsEvent)i.Value).ToList();
        Assert.Equal(["m", "x", "y"], events.Select(e => e.Metric));
        Assert.Equal(["i1", "i2#x", "i2#y"], events.Select(e => e.Id));
    }

    [Fact]
    public void A_partly_invalid_record_keeps_its_valid_events_and_says_why_and_an_unreadable_one_is_rejected()
    {
        var items = new List<QueueItem>();
        var reason = Decoder.Decode(Record("""
            {"source":"a","metric":"m","value":1,"timestamp":0}
            {"source":"a","metric":"bad metric","value":1}
            {"source":"a","metric":"m","value":"NaN"}
            """), items);
        Assert.Single(items);
        Assert.NotNull(reason);
        Assert.StartsWith("2 of 3 events in the record were rejected; #1: ", reason);
        Assert.Contains("#2: ", reason);

        items.Clear();
        Assert.Contains("not valid JSON", Decoder.Decode(Record("{\"source\": "), items));
        Assert.Empty(items);
        Assert.NotNull(Decoder.Decode(Record("   "), items));
    }

    [Fact]
    public void Stored_events_are_never_refused_for_being_in_the_future_on_replay()
    {
        var items = new List<QueueItem>();
        var later = TimestampParser.Format(T0 + (2 * Hour));
        Assert.Null(Decoder.Decode(Record($$"""{"source":"a","metric":"m","value":1,"timestamp":"{{later}}"}"""), items));
        Assert.Single(items);
    }

    [Fact]
    public async Task The_page_handler_calls_each_source_group_once_then_publishes_one_partial_per_metric_without_the_duplicates()
    {
        var handler = new AnalyticsPageHandler(Options.Create(new AnalyticsOptions()));
        var events = new[]
        {
            Ev("a", "m", 5, T0), Ev("b", "m", -1, T0 + 1000), Ev("a", "m", 7, T0 + 2000),
            Ev("a", "m", 100, T0 - Minute), Ev("c", "m", 3, T0 - (40 * Day)), Ev("b", "n", 9, T0),
        };
        var items = events.Select((e, i) => new QueueItem(e.Source, e, new QueuePosition(1, i))).ToList();
        // Source b's event at 1.1 is a duplicate: its grain says so, and no metric may see it.
        await using var cluster = await StartAsync();
        var context = new RecordingPageContext(cluster.GrainFactory, dropped: [new QueuePosition(1, 1)]);

        Assert.True(await handler.HandleAsync(new QueuePage("q", [], items), context));

        // One call per source group, with the group's events in queue order.
        var groups = new AnalyticsOptions().SourceGroups;
        Assert.Equal(events.Select(e => SourceGroups.KeyOf(e.Source, groups)).Distinct().Order(), context.Deliveries.Select(d => d.Group).Order());
        foreach (var (group, positions) in context.Deliveries)
        {
            Assert.Equal(items.Where(i => SourceGroups.KeyOf(((AnalyticsEvent)i.Value).Source, groups) == group).Select(i => i.Position), positions);
        }

        Assert.Equal([new QueuePosition(1, 0), new QueuePosition(1, 2), new QueuePosition(1, 3)], context.Deliveries.Single(d => d.Group == SourceGroups.KeyOf("a", groups)).Positions.Where(p => events[p.SubSequence].Source == "a"));
        var published = context.Published.ToDictionary(p => p.Metric);
        Assert.Equal(["m", "n"], published.Keys.Order());
        var partial = published["m"].Partial;
        Assert.Equal((new QueuePosition(1, 0), new QueuePosition(1, 4)), (published["m"].First, published["m"].Last));
        Assert.Equal("m", partial.Metric);
        Assert.Equal(10_000, partial.BucketSizeMs);
        Assert.Equal(4, partial.Count);
        Assert.Equal(3, partial.Buckets.Count);
        var now = partial.Buckets[T0 - 5000];
        Assert.Equal((2, 12.0, 5.0, 7.0), (now.Count, now.Sum, now.Min, now.Max));
        Assert.Equal(2, now.Sketch.Count);
        Assert.Equal(new SourceAggregate(2, 12, 7), now.Sources["a"]);
        Assert.False(now.Sources.ContainsKey("b"));
        Assert.Equal(T0 + 2000, partial.LatestBySource["a"]);
        Assert.Equal(T0 - (40 * Day), partial.LatestBySource["c"]);
        Assert.Equal(1, published["n"].Partial.Count);
    }

    [Fact]
    public async Task A_gap_reported_by_a_source_grain_publishes_nothing_and_asks_for_a_replay()
    {
        var handler = new AnalyticsPageHandler(Options.Create(new AnalyticsOptions()));
        var items = new[] { new QueueItem("a", Ev("a", "m", 5, T0), new QueuePosition(7)) };
        await using var cluster = await StartAsync();
        var context = new RecordingPageContext(cluster.GrainFactory, dropped: [], gap: true);

        Assert.False(await handler.HandleAsync(new QueuePage("q", [], items), context));
        Assert.Empty(context.Published);
    }

    /// <summary>Records what the handler asks of its receiver; the source grains answer with the given duplicates.</summary>
    private sealed class RecordingPageContext(IGrainFactory grains, IReadOnlyList<QueuePosition> dropped, bool gap = false) : IQueuePageContext
    {
        public List<(string Group, IReadOnlyList<QueuePosition> Positions)> Deliveries { get; } = [];

        public List<(string Metric, MetricPartial Partial, QueuePosition First, QueuePosition Last)> Published { get; } = [];

        public string Queue => "q";

        public IGrainFactory GrainFactory => grains;

        public Task<DeliveryOutcome> DeliverAsync<T>(IQueueConsumer<T> consumer, IReadOnlyList<T> items, IReadOnlyList<QueuePosition> positions)
        {
            Deliveries.Add((consumer.GetPrimaryKeyString(), positions));
            var mine = positions.Intersect(dropped).ToList();
            return Task.FromResult(gap ? new DeliveryOutcome(DeliveryStatus.Gap) : new DeliveryOutcome(DeliveryStatus.Applied, Dropped: mine.Count > 0 ? mine : null));
        }

        public void Publish<T>(StreamId stream, T payload, QueuePosition first, QueuePosition last, IQueueCheckpointParticipant consumer) =>
            Published.Add((stream.GetKeyAsString(), (MetricPartial)(object)payload!, first, last));
    }
}
