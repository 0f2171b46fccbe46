using Analytics.Grains;
using Analytics.Grains.Metrics;
using Analytics.Grains.Sources;
using Analytics.Grains.Streaming;
using Orleans.Runtime;
using Xunit.Abstractions;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>Runs alone, so that other tests' allocations do not blur the heap measurements.</summary>
[CollectionDefinition(nameof(MemoryFootprint), DisableParallelization = true)]
public sealed class MemoryFootprint;

/// <summary>
/// Measures the memory budgets (docs/PERFORMANCE.md): a metric grain with every bucket of every
/// default tier filled by events of 10k sources, under 16 MB; a source grain's metric with every
/// bucket filled, under 8 KB. Heap figures are live bytes after a full collection.
/// </summary>
[Collection(nameof(MemoryFootprint))]
public sealed class MemoryFootprintTests(ITestOutputHelper output)
{
    private const int Sources = 10_000;

    // Events per finest bucket: more distinct sources than the top-k capacity, so every bucket's top-k is full.
    private const int EventsPerBucket = 100;

    [Fact]
    public void A_fully_retained_metric_with_10k_sources_fits_16_MB()
    {
        var options = new AnalyticsOptions();
        var tiers = options.GetMetricTiers();
        var before = LiveBytes();
        var model = MetricModelTests.NewModel(options);
        var random = new Random(1);
        var next = 0;
        // One batch per bucket of every tier, so each bucket of each tier holds EventsPerBucket events or more.
        foreach (var tier in tiers.Tiers)
        {
            for (var start = tier.OldestRetained(T0); start <= T0; start += tier.SizeMs)
            {
                var partial = new MetricPartial("m", tiers.Finest.SizeMs);
                for (var i = 0; i < EventsPerBucket; i++)
                {
                    partial.Add(Ev($"device-{next++ % Sources:D5}", "m", Math.Round(random.NextDouble() * 1000, 2), start + random.Next((int)Math.Min(tier.SizeMs, tiers.Finest.SizeMs))));
                }

                model.Apply(partial, T0);
            }
        }

        model.Maintain(T0);
        var heap = LiveBytes() - before;
        var state = new MetricState { SourceLatest = model.Sources.Latest, Buckets = [] };
        var snapshot = new MetricSnapshot { Generation = 1, Buckets = model.AllRecords() };
        var stateBytes = new Analytics.Grains.Persistence.JsonGrainStateSerializer().Serialize(state).ToArray().Length;
        var snapshotBytes = new Analytics.Grains.Persistence.JsonGrainStateSerializer().Serialize(snapshot).ToArray().Length;
        var sketchBytes = snapshot.Buckets.Sum(b => (long)(b.Sketch?.Length ?? 0));
        var topBytes = snapshot.Buckets.Sum(b => (long)(b.Top?.Length ?? 0));

        output.WriteLine($"metric grain, default tiers, {model.BucketCount} buckets, {model.Sources.Latest.Count} sources, top-k capacity {options.TopKCapacity}:");
        output.WriteLine($"  heap {Mb(heap)} (estimate {Mb(model.EstimateBytes())} buckets + sources map)");
        output.WriteLine($"  stored: snapshot {Mb(snapshotBytes)} JSON (sketches {Mb(sketchBytes)}, top-k {Mb(topBytes)} binary), per-flush state {Mb(stateBytes)} JSON + changed buckets");
        GC.KeepAlive(model);

        Assert.Equal(360 + 1 + 1440 + 1 + 720 + 1, model.BucketCount);
        Assert.Equal(Sources, model.Sources.Latest.Count);
        Assert.True(heap < 16L << 20, $"heap {Mb(heap)} is over the 16 MB budget");
    }

    [Fact]
    public void A_source_s_fully_retained_metric_fits_8_KB()
    {
        const int Metrics = 1000;
        var options = new AnalyticsOptions();
        var tiers = options.GetSourceTiers();
        var before = LiveBytes();
        var state = new SourceRecord();
        for (var m = 0; m < Metrics; m++)
        {
            // A reading every 10 s for a day: every bucket of both tiers has several events.
            for (var t = T0 - Day; t <= T0; t += 10_000)
            {
                state.Add($"metric.{m:D4}", t, (t / 10_000 % 97) - 40.5, tiers, T0);
            }
        }

        var heap = LiveBytes() - before;
        var json = new Analytics.Grains.Persistence.JsonGrainStateSerializer().Serialize(state).ToArray().Length;
        var first = state.Metrics.First();
        output.WriteLine($"source grain, default tiers, {first.Value.Tiers.Sum(t => t.Count)} buckets per metric:");
        output.WriteLine($"  heap {heap / Metrics} bytes per metric (estimate {first.Value.EstimateBytes(first.Key)}), stored {json / Metrics} bytes per metric (base64 of the binary record, in its group's JSON)");
        GC.KeepAlive(state);

        Assert.Equal(61 + 97, first.Value.Tiers.Sum(t => t.Count));
        Assert.True(heap / Metrics < 8 * 1024, $"{heap / Metrics} bytes per metric is over the 8 KB budget");
    }

    private static long LiveBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static string Mb(long bytes) => $"{bytes / 1048576.0:F2} MB";
}
