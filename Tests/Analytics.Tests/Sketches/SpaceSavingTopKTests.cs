using Analytics.Grains.Sketches;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Tests.Sketches;

public sealed class SpaceSavingTopKTests
{
    private readonly record struct Event(string Source, long Count, double Value);

    // Streams that never hold more distinct sources than the capacity they come with.
    private static readonly Arbitrary<(int Capacity, Event[] Events)> SmallStreams =
        Gen.Choose(1, 40).SelectMany(capacity =>
            Gen.ArrayOf(
                from id in Gen.Choose(0, capacity - 1)
                from count in Gen.Choose(1, 5)
                from value in Gen.Choose(-100, 100)
                select new Event($"s{id}", count, value)),
            (capacity, events) => (capacity, events)).ToArbitrary();

    private static readonly Config Quick = Config.QuickThrowOnFailure.WithMaxTest(200);

    [Fact]
    public void Exact_when_distinct_sources_fit()
    {
        Prop.ForAll(SmallStreams, ((int Capacity, Event[] Events) input) =>
        {
            var sketch = new SpaceSavingTopK(input.Capacity);
            foreach (var e in input.Events) sketch.Add(e.Source, e.Count, e.Count * e.Value, e.Value);

            Assert.Equal(0, sketch.UnmonitoredBound);
            Assert.Equal(input.Events.Sum(e => e.Count), sketch.TotalCount);
            foreach (TopKOrder by in Enum.GetValues<TopKOrder>())
            {
                Assert.Equal(Exact(input.Events, by), sketch.Top(input.Capacity, by));
                Assert.Equal(Exact(input.Events, by).Take(3), sketch.Top(3, by));
            }
        }).Check(Quick);
    }

    [Fact]
    public void Merge_is_exact_when_the_union_fits()
    {
        var arb = Gen.Zip(SmallStreams.Generator, Gen.Choose(0, 100)).ToArbitrary();
        Prop.ForAll(arb, (((int Capacity, Event[] Events) Stream, int Split) input) =>
        {
            var (capacity, events) = input.Stream;
            int split = Math.Min(input.Split, events.Length);
            var left = new SpaceSavingTopK(capacity);
            var right = new SpaceSavingTopK(capacity);
            for (int i = 0; i < events.Length; i++)
            {
                var e = events[i];
                (i < split ? left : right).Add(e.Source, e.Count, e.Count * e.Value, e.Value);
            }
            left.Merge(right);
            foreach (TopKOrder by in Enum.GetValues<TopKOrder>())
            {
                Assert.Equal(Exact(events, by), left.Top(capacity, by));
            }
        }).Check(Quick);
    }

    [Fact]
    public void Eviction_inherits_the_minimum_as_count_and_error()
    {
        var sketch = new SpaceSavingTopK(2);
        sketch.Add("a", 5, 50, 20);
        sketch.Add("b", 3, 6, 2);
        sketch.Add("c", 1, 7, 7);

        var top = sketch.Top(10);
        Assert.Equal([new TopKItem("a", 5, 20, 10, 0), new TopKItem("c", 4, 7, 7, 3)], top);
        Assert.Equal(3, sketch.UnmonitoredBound);
        Assert.Equal(9, sketch.TotalCount);
    }

    [Fact]
    public void Orders_by_count_max_and_mean()
    {
        var sketch = new SpaceSavingTopK(8);
        sketch.Add("steady", 10, 20, 5);    // mean 2
        sketch.Add("spiky", 3, 150, 100);   // mean 50
        sketch.Add("slow", 5, 300, 20);     // mean 60
        sketch.Add("tie-b", 1, 1, 1);
        sketch.Add("tie-a", 1, 1, 1);

        Assert.Equal(["steady", "slow", "spiky", "tie-a", "tie-b"], sketch.Top(5, TopKOrder.Count).Select(i => i.Source));
        Assert.Equal(["spiky", "slow", "steady"], sketch.Top(3, TopKOrder.Max).Select(i => i.Source));
        Assert.Equal(["slow", "spiky", "steady"], sketch.Top(3, TopKOrder.Mean).Select(i => i.Source));
        Assert.Empty(sketch.Top(0));
        Assert.Equal(5, sketch.Top(100).Count);
    }

    [Fact]
    public void Finds_heavy_hitters_in_a_zipf_stream_with_valid_bounds()
    {
        var (events, truth) = ZipfStream(seed: 7, distinct: 20_000, length: 300_000, exponent: 1.1);
        var sketch = new SpaceSavingTopK(SpaceSavingTopK.DefaultCapacity);
        foreach (string s in events) sketch.Add(s, 1, 1, 1);

        AssertHeavyHittersFound(sketch, truth, events.Length);
        // Within a single stream, anything above N / capacity must survive.
        var retained = sketch.Top(sketch.Capacity).Select(i => i.Source).ToHashSet();
        foreach (var (source, count) in truth)
        {
            if (count > events.Length / sketch.Capacity) Assert.Contains(source, retained);
        }
    }

    [Fact]
    public void Merged_partitions_find_the_same_heavy_hitters()
    {
        var (events, truth) = ZipfStream(seed: 11, distinct: 20_000, length: 300_000, exponent: 1.1);
        var partitions = Enumerable.Range(0, 4).Select(_ => new SpaceSavingTopK()).ToArray();
        for (int i = 0; i < events.Length; i++) partitions[i % 4].Add(events[i], 1, 1, 1);

        var merged = partitions[0];
        foreach (var p in partitions.Skip(1)) merged.Merge(p);

        Assert.Equal(events.Length, merged.TotalCount);
        Assert.True(merged.UnmonitoredBound > 0);
        AssertHeavyHittersFound(merged, truth, events.Length);
    }

    [Fact]
    public void Merge_with_itself_doubles_counts_and_sums()
    {
        var sketch = new SpaceSavingTopK(4);
        sketch.Add("a", 2, 10, 7);
        sketch.Merge(sketch);
        Assert.Equal([new TopKItem("a", 4, 7, 5, 0)], sketch.Top(1));
    }

    [Fact]
    public void Mean_covers_only_observations_made_while_retained()
    {
        var sketch = new SpaceSavingTopK(1);
        sketch.Add("a", 10, 10, 1);
        sketch.Add("b", 2, 200, 150); // evicts a: count 12, error 10, but only 2 observations with sum 200
        var b = Assert.Single(sketch.Top(1));
        Assert.Equal(new TopKItem("b", 12, 150, 100, 10), b);
    }

    [Fact]
    public void Serialisation_round_trips_and_preserves_future_behaviour()
    {
        var (events, _) = ZipfStream(seed: 3, distinct: 5_000, length: 20_000, exponent: 1.0);
        var sketch = new SpaceSavingTopK(64);
        var random = new Random(5);
        foreach (string s in events) sketch.Add(s, 1, random.Next(100), random.Next(100, 200));

        byte[] bytes = DDSketchTests.Serialise(sketch.WriteTo);
        var copy = SpaceSavingTopK.ReadFrom(DDSketchTests.Reader(bytes));
        Assert.Equal(bytes, DDSketchTests.Serialise(copy.WriteTo));
        Assert.Equal(sketch.TotalCount, copy.TotalCount);
        Assert.Equal(sketch.UnmonitoredBound, copy.UnmonitoredBound);

        foreach (string s in events.Take(2_000).Reverse())
        {
            sketch.Add("new-" + s, 1, 1, 1);
            copy.Add("new-" + s, 1, 1, 1);
        }
        foreach (TopKOrder by in Enum.GetValues<TopKOrder>()) Assert.Equal(sketch.Top(64, by), copy.Top(64, by));

        var empty = SpaceSavingTopK.ReadFrom(DDSketchTests.Reader(DDSketchTests.Serialise(new SpaceSavingTopK(3).WriteTo)));
        Assert.Equal(3, empty.Capacity);
        Assert.Empty(empty.Top(3));
    }

    [Fact]
    public void Clone_is_independent()
    {
        var sketch = new SpaceSavingTopK(4);
        sketch.Add("a", 1, 1, 1);
        var clone = sketch.Clone();
        clone.Add("a", 5, 5, 1);
        clone.Add("b", 1, 1, 1);
        Assert.Equal([new TopKItem("a", 1, 1, 1, 0)], sketch.Top(4));
        Assert.Equal(2, clone.RetainedCount);
    }

    [Fact]
    public void Bad_arguments_and_corrupt_input_throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpaceSavingTopK(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SpaceSavingTopK(-5));
        var sketch = new SpaceSavingTopK();
        Assert.Throws<ArgumentNullException>(() => sketch.Add(null!, 1, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add("a", 0, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add("a", -1, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add("a", 1, double.NaN, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add("a", 1, 1, double.PositiveInfinity));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Top(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Top(1, (TopKOrder)42));
        Assert.Throws<ArgumentNullException>(() => sketch.Merge(null!));
        Assert.Equal(0, sketch.TotalCount);

        sketch.Add("a", 1, 1, 1);
        byte[] bytes = DDSketchTests.Serialise(sketch.WriteTo);
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            Assert.Throws<InvalidDataException>(() => SpaceSavingTopK.ReadFrom(DDSketchTests.Reader(bytes[..cut])));
        }
    }

    private static void AssertHeavyHittersFound(SpaceSavingTopK sketch, Dictionary<string, long> truth, long total)
    {
        var expectedTop = truth.OrderByDescending(kv => kv.Value).Take(10).Select(kv => kv.Key).ToHashSet();
        var reported = sketch.Top(10);
        Assert.Equal(expectedTop, reported.Select(i => i.Source).ToHashSet());

        foreach (var item in sketch.Top(sketch.Capacity))
        {
            long actual = truth[item.Source];
            Assert.True(item.Count - item.ErrorBound <= actual && actual <= item.Count,
                $"{item.Source}: true {actual}, reported {item.Count} +/- {item.ErrorBound}");
            Assert.True(item.ErrorBound <= total / sketch.Capacity * 4);
        }
    }

    private static (string[] Events, Dictionary<string, long> Truth) ZipfStream(int seed, int distinct, int length, double exponent)
    {
        var cdf = new double[distinct];
        double acc = 0;
        for (int i = 0; i < distinct; i++) cdf[i] = acc += 1 / Math.Pow(i + 1, exponent);
        var random = new Random(seed);
        var events = new string[length];
        var names = Enumerable.Range(0, distinct).Select(i => $"src-{i:x}").ToArray();
        var truth = new Dictionary<string, long>();
        for (int i = 0; i < length; i++)
        {
            int rank = Array.BinarySearch(cdf, random.NextDouble() * acc);
            if (rank < 0) rank = ~rank;
            events[i] = names[Math.Min(rank, distinct - 1)];
            truth[events[i]] = truth.GetValueOrDefault(events[i]) + 1;
        }
        return (events, truth);
    }

    private static List<TopKItem> Exact(IEnumerable<Event> events, TopKOrder by)
    {
        var items = events
            .GroupBy(e => e.Source)
            .Select(g => new TopKItem(g.Key, g.Sum(e => e.Count), g.Max(e => e.Value),
                g.Sum(e => e.Count * e.Value) / g.Sum(e => e.Count), 0))
            .ToList();
        Func<TopKItem, double> key = by switch
        {
            TopKOrder.Count => i => i.Count,
            TopKOrder.Max => i => i.Max,
            _ => i => i.Mean,
        };
        return items
            .OrderByDescending(key)
            .ThenByDescending(i => i.Count)
            .ThenBy(i => i.Source, StringComparer.Ordinal)
            .ToList();
    }
}
