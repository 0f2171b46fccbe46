using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Metrics;
using Analytics.Grains.Sketches;
using Analytics.Grains.Streaming;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Analytics.Streaming;
using Analytics.Tests.Grains;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests;

/// <summary>
/// A <see cref="MetricPartial"/> as it crosses to a metric grain on another silo: through its JSON
/// converter alone, and inside the <see cref="QueueDelivery{T}"/> that Orleans' serializer carries
/// to the metric grain's stream subscription (configured as the silo does, by AddAnalytics).
/// </summary>
public sealed class MetricPartialWireTests
{
    private static readonly double[] Quantiles = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];

    /// <summary>Sources with characters JSON must escape, in property names too.</summary>
    private static readonly string[] SourceNames = ["a", "b", "dev \"ü\" 🔑", "back\\slash", "ключ", "zero-only"];

    [Fact]
    public void A_partial_round_trips_through_the_wire_serializer_with_every_aggregate_and_its_sketches()
    {
        var partial = BuildPartial();
        var json = JsonSerializer.Serialize(partial);
        var back = JsonSerializer.Deserialize<MetricPartial>(json);

        Assert.NotNull(back);
        AssertSamePartial(partial, back);

        // The converter's own form, not the default property dump (the sketch goes as its binary form).
        using var document = JsonDocument.Parse(json);
        Assert.Equal(partial.Buckets.Count, document.RootElement.GetProperty("buckets").GetArrayLength());
        Assert.Equal(JsonValueKind.String, document.RootElement.GetProperty("buckets")[0].GetProperty("sketch").ValueKind);
    }

    [Fact]
    public void A_partial_round_trips_inside_a_queue_delivery_through_the_Orleans_serializer()
    {
        var partial = BuildPartial();
        var delivery = new QueueDelivery<MetricPartial>
        {
            Queue = "shardId-000000000003",
            First = new QueuePosition("49590338271490256608559692538361571095921575989136588898"),
            Last = new QueuePosition("49590338271490256608559692538361571095921575989136588898", 41),
            Previous = new QueuePosition("49590338271490256608559692538361571095921575989136588001", 3),
            Items = [partial],
        };
        var services = new ServiceCollection();
        services.AddSerializer(serializer => serializer
            .AddAssembly(typeof(QueueDelivery<>).Assembly)
            .AddJsonSerializer(isSupported: type => type == typeof(MetricPartial)));
        using var provider = services.BuildServiceProvider();
        var serializer = provider.GetRequiredService<Serializer>();

        var received = serializer.Deserialize<QueueDelivery<MetricPartial>>(serializer.SerializeToArray(delivery));

        Assert.NotNull(received);
        Assert.Equal((delivery.Queue, delivery.First, delivery.Last, delivery.Previous), (received.Queue, received.First, received.Last, received.Previous));
        AssertSamePartial(partial, Assert.Single(received.Items));
    }

    [Fact]
    public void Applying_the_round_tripped_partial_gives_the_same_stats_series_and_top_as_the_original()
    {
        var original = BuildPartial();
        var roundTripped = JsonSerializer.Deserialize<MetricPartial>(JsonSerializer.Serialize(original))!;
        var expected = MetricModelTests.NewModel();
        var actual = MetricModelTests.NewModel();
        expected.Apply(original, T0);
        actual.Apply(roundTripped, T0);

        Assert.True(expected.Late > 0, "the partial should have late events");
        Assert.Equal(expected.Late, actual.Late);
        foreach (var window in new[] { TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromHours(1), TimeSpan.FromHours(24), TimeSpan.FromDays(30) })
        {
            var stats = expected.Stats(window, T0);
            Assert.Equal(stats, actual.Stats(window, T0));
            foreach (var by in new[] { TopOrder.Count, TopOrder.Max, TopOrder.Mean })
            {
                var top = expected.Top(window, 5, by, T0);
                var topBack = actual.Top(window, 5, by, T0);
                Assert.Equal((top.FromMs, top.ToMs), (topBack.FromMs, topBack.ToMs));
                Assert.Equal(top.Items, topBack.Items);
            }
        }

        // Something was really counted, with negative values and percentiles, so the comparison above compares something.
        var hour = expected.Stats(TimeSpan.FromHours(1), T0);
        Assert.True(hour.Count > 100);
        Assert.True(hour.Min < 0);
        Assert.NotNull(hour.P99);
        Assert.True(hour.DistinctSources >= SourceNames.Length);

        var series = expected.Series(T0 - (2 * Hour), T0, TimeSpan.FromMinutes(1), T0, 1000);
        var seriesBack = actual.Series(T0 - (2 * Hour), T0, TimeSpan.FromMinutes(1), T0, 1000);
        Assert.Equal(series.StepMs, seriesBack.StepMs);
        Assert.Equal(series.Points, seriesBack.Points);
        Assert.Contains(series.Points, p => p.Count > 0);
    }

    [Fact]
    public void An_empty_partial_round_trips()
    {
        var empty = new MetricPartial("idle", 10_000);
        var back = JsonSerializer.Deserialize<MetricPartial>(JsonSerializer.Serialize(empty));
        Assert.NotNull(back);
        AssertSamePartial(empty, back);
    }

    public static TheoryData<string> MalformedNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var name in Malformed.Keys)
            {
                data.Add(name);
            }

            return data;
        }
    }

    private static readonly Dictionary<string, Func<string>> Malformed = new()
    {
        ["empty object"] = () => "{}",
        ["an array"] = () => "[]",
        ["a string"] = () => "\"partial\"",
        ["a number"] = () => "5",
        ["truncated"] = () => Valid().ToJsonString()[..40],
        ["not JSON"] = () => "{metric: m}",
        ["metric missing"] = () => Edit(n => n.AsObject().Remove("metric")),
        ["metric a number"] = () => Edit(n => n["metric"] = 5),
        ["metric null"] = () => Edit(n => n["metric"] = null),
        ["bucketMs a string"] = () => Edit(n => n["bucketMs"] = "10000"),
        ["bucketMs a fraction"] = () => Edit(n => n["bucketMs"] = 1.5),
        ["count beyond long"] = () => Valid().ToJsonString().Replace("\"count\":", "\"count\":9999999999999999999999", StringComparison.Ordinal),
        ["latest an array"] = () => Edit(n => n["latest"] = new JsonArray()),
        ["latest time a string"] = () => Edit(n => n["latest"]!["a"] = "yesterday"),
        ["buckets an object"] = () => Edit(n => n["buckets"] = new JsonObject()),
        ["bucket a number"] = () => Edit(n => n["buckets"]![0] = 7),
        ["bucket without sketch"] = () => Edit(n => n["buckets"]![0]!.AsObject().Remove("sketch")),
        ["bucket without start"] = () => Edit(n => n["buckets"]![0]!.AsObject().Remove("start")),
        ["bucket sum a string"] = () => Edit(n => n["buckets"]![0]!["sum"] = "NaN"),
        ["sketch not base64"] = () => Edit(n => n["buckets"]![0]!["sketch"] = "!!not base64!!"),
        ["sketch of another format version"] = () => Edit(n => n["buckets"]![0]!["sketch"] = Convert.ToBase64String([99, 1, 2, 3])),
        ["sketch empty"] = () => Edit(n => n["buckets"]![0]!["sketch"] = ""),
        ["sketch truncated"] = () => Edit(n =>
        {
            var bytes = Convert.FromBase64String((string)n["buckets"]![0]!["sketch"]!);
            n["buckets"]![0]!["sketch"] = Convert.ToBase64String(bytes[..(bytes.Length / 2)]);
        }),
        ["sketch a number"] = () => Edit(n => n["buckets"]![0]!["sketch"] = 12),
        ["source aggregate too short"] = () => Edit(n => n["buckets"]![0]!["sources"]!["a"] = new JsonArray(1, 2)),
        ["source aggregate not an array"] = () => Edit(n => n["buckets"]![0]!["sources"]!["a"] = 3),
        ["source count a fraction"] = () => Edit(n => n["buckets"]![0]!["sources"]!["a"] = new JsonArray(1.5, 2, 3)),
        ["nested beyond the depth limit"] = () => Edit(n => n["latest"] = "DEEP").Replace("\"DEEP\"", new string('[', 70) + new string(']', 70), StringComparison.Ordinal),
    };

    [Theory]
    [MemberData(nameof(MalformedNames))]
    public void Malformed_JSON_for_a_partial_throws_JsonException(string name)
    {
        var json = Malformed[name]();
        MetricPartial? read = null;
        var error = Record.Exception(() => read = JsonSerializer.Deserialize<MetricPartial>(json));
        Assert.True(error is not null, $"'{name}' was read without an error, as a partial of metric {(read is null ? "(none)" : read.Metric is null ? "null" : $"'{read.Metric}'")}");
        Assert.True(error is JsonException, $"'{name}' threw {error.GetType().FullName} instead of JsonException: {error.Message}");
    }

    [Fact]
    public void The_malformed_cases_start_from_JSON_that_reads()
    {
        // Guards the theory above: its edits break a partial that is otherwise valid.
        var back = JsonSerializer.Deserialize<MetricPartial>(Edit(_ => { }));
        Assert.NotNull(back);
        Assert.Equal("m", back.Metric);
        Assert.Equal(3, back.Count);
    }

    private static MetricPartial BuildPartial(int seed = 1, string metric = "cpu.load")
    {
        var partial = new MetricPartial(metric, 10_000);
        var random = new Random(seed);
        // Now, a few buckets back, minutes back (finest tier), hours back (coarser tiers only) and 40 days back (late).
        long[] ages = [0, 3 * Second, 20 * Second, 55 * Second, 5 * Minute, 59 * Minute, 2 * Hour, 23 * Hour, 40 * Day];
        double[] specials = [0, -0.0, -1, -273.15, 1e-12, -1e-12, 0.1, 0.2, 1e12, -1e12, 123_456.789, double.Epsilon];
        for (var n = 0; n < 3000; n++)
        {
            var source = SourceNames[random.Next(SourceNames.Length - 1)]; // all but "zero-only"
            var value = random.Next(4) switch
            {
                0 => specials[random.Next(specials.Length)],
                1 => random.Next(-1000, 1000),
                2 => (random.NextDouble() - 0.5) * 1e6,
                _ => Math.Round(random.NextDouble() * 100, 3),
            };
            var age = ages[random.Next(ages.Length)] + random.Next(0, 9_999);
            partial.Add(Ev(source, metric, value, T0 - age));
        }

        // A source that only ever sends zeros, alone in its own bucket.
        partial.Add(Ev("zero-only", metric, 0, T0 - (30 * Minute)));
        partial.Add(Ev("zero-only", metric, 0, T0 - (30 * Minute) + 1));
        Assert.True(partial.Buckets.Count > 8);
        return partial;
    }

    private static void AssertSamePartial(MetricPartial expected, MetricPartial actual)
    {
        Assert.NotSame(expected, actual);
        Assert.Equal(expected.Metric, actual.Metric);
        Assert.Equal(expected.BucketSizeMs, actual.BucketSizeMs);
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.LatestBySource.OrderBy(p => p.Key, StringComparer.Ordinal), actual.LatestBySource.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Buckets.Keys.Order(), actual.Buckets.Keys.Order());
        foreach (var (start, bucket) in expected.Buckets)
        {
            var back = actual.Buckets[start];
            Assert.Equal(bucket.Count, back.Count);
            Assert.Equal(bucket.Sum, back.Sum);
            Assert.Equal(bucket.Min, back.Min);
            Assert.Equal(bucket.Max, back.Max);
            Assert.Equal(bucket.Sources.OrderBy(p => p.Key, StringComparer.Ordinal), back.Sources.OrderBy(p => p.Key, StringComparer.Ordinal));

            Assert.Equal(bucket.Sketch.Count, back.Sketch.Count);
            Assert.Equal(bucket.Sketch.Min, back.Sketch.Min);
            Assert.Equal(bucket.Sketch.Max, back.Sketch.Max);
            Assert.Equal(bucket.Sketch.RelativeAccuracy, back.Sketch.RelativeAccuracy);
            Assert.Equal(bucket.Sketch.Quantile(0.5), back.Sketch.Quantile(0.5));
            Assert.Equal(bucket.Sketch.Quantile(0.99), back.Sketch.Quantile(0.99));
            Assert.Equal(Quantiles.Select(bucket.Sketch.Quantile), Quantiles.Select(back.Sketch.Quantile));
            Assert.Equal(SketchBytes(bucket.Sketch), SketchBytes(back.Sketch));

            // The copy is independent of the original: adding to it leaves the original as it was.
            var before = bucket.Sketch.Count;
            back.Add("late-addition", 1);
            Assert.Equal(before, bucket.Sketch.Count);
            Assert.Equal(before + 1, back.Sketch.Count);
        }
    }

    private static byte[] SketchBytes(DDSketch sketch)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            sketch.WriteTo(writer);
        }

        return stream.ToArray();
    }

    private static JsonNode Valid()
    {
        var partial = new MetricPartial("m", 10_000);
        partial.Add(Ev("a", "m", 1.5, T0));
        partial.Add(Ev("a", "m", -2, T0 + 1));
        partial.Add(Ev("b", "m", 0, T0 - Minute));
        return JsonNode.Parse(JsonSerializer.Serialize(partial))!;
    }

    private static string Edit(Action<JsonNode> edit)
    {
        var node = Valid();
        edit(node);
        return node.ToJsonString();
    }
}
