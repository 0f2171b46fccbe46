using System.Text;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Streaming;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.Options;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>The decoder, key mapper and combiner on their own.</summary>
public sealed class StreamingTests
{
    private static readonly EventRecordDecoder Decoder = new(EventValidationOptions.ForStoredEvents(), new ManualClock(T0));

    private static QueueRecord Record(string text, long sequence = 42, string key = "whatever") =>
        new(new StreamId(AnalyticsStreams.Namespace, key), Encoding.UTF8.GetBytes(text), new StreamSequenceToken(sequence));

    [Fact]
    public void Each_event_of_a_record_becomes_an_item_of_its_source_with_its_index_as_sub_sequence()
    {
        var items = new List<StreamItem>();
        var at = TimestampParser.Format(T0);
        var error = Decoder.Decode(Record(
            $$"""
            {"source":"a","metric":"m","value":1,"timestamp":"{{at}}","id":"i1"}
            {"source":"b","values":{"x":2,"y":3},"timestamp":"{{at}}","id":"i2"}
            """), items);

        Assert.Null(error);
        Assert.Equal([0, 1, 2], items.Select(i => i.Token.SubSequence));
        Assert.All(items, i => Assert.Equal("42", i.Token.Sequence));
        Assert.Equal(["a", "b", "b"], items.Select(i => i.Stream.Key));
        Assert.All(items, i => Assert.Equal(AnalyticsStreams.Namespace, i.Stream.Namespace));
        var events = items.Select(i => (AnalyticsEvent)i.Value).ToList();
        Assert.Equal(["m", "x", "y"], events.Select(e => e.Metric));
        Assert.Equal(["i1", "i2#x", "i2#y"], events.Select(e => e.Id));
        Assert.Equal(["m", "x", "y"], items.Select(i => new MetricKeyMapper().GetGrainKey(i)));
    }

    [Fact]
    public void A_partly_invalid_record_keeps_its_valid_events_and_says_why_and_an_unreadable_one_is_rejected()
    {
        var items = new List<StreamItem>();
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
        var items = new List<StreamItem>();
        var later = TimestampParser.Format(T0 + (2 * Hour));
        Assert.Null(Decoder.Decode(Record($$"""{"source":"a","metric":"m","value":1,"timestamp":"{{later}}"}"""), items));
        Assert.Single(items);
    }

    [Fact]
    public void The_combiner_reduces_a_metric_s_items_to_per_bucket_aggregates()
    {
        var combiner = new MetricPartialCombiner(Options.Create(new AnalyticsOptions()));
        var events = new[]
        {
            Ev("a", "m", 5, T0), Ev("b", "m", -1, T0 + 1000), Ev("a", "m", 7, T0 + 2000),
            Ev("a", "m", 100, T0 - Minute), Ev("c", "m", 3, T0 - (40 * Day)),
        };
        var items = events.Select((e, i) => new StreamItem(new StreamId("events", e.Source), e, new StreamSequenceToken(1, i))).ToList();

        var partial = Assert.IsType<MetricPartial>(combiner.Combine("m", items));

        Assert.Equal("m", partial.Metric);
        Assert.Equal(10_000, partial.BucketSizeMs);
        Assert.Equal(5, partial.Count);
        Assert.Equal(3, partial.Buckets.Count);
        var now = partial.Buckets[T0 - 5000];
        Assert.Equal((3, 11.0, -1.0, 7.0), (now.Count, now.Sum, now.Min, now.Max));
        Assert.Equal(3, now.Sketch.Count);
        Assert.Equal(new SourceAggregate(2, 12, 7), now.Sources["a"]);
        Assert.Equal(new SourceAggregate(1, -1, -1), now.Sources["b"]);
        Assert.Equal(T0 + 2000, partial.LatestBySource["a"]);
        Assert.Equal(T0 - (40 * Day), partial.LatestBySource["c"]);
    }
}
