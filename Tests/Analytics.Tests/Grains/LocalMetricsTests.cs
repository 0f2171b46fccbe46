using Analytics.Grains;
using Analytics.Grains.Metrics;
using Analytics.Grains.Streaming;
using Microsoft.Extensions.DependencyInjection;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>
/// Queries answered in place from the metric grains active in a silo (<see cref="LocalMetrics"/>):
/// the registry follows activations, and a read beside the grain's own turn is safe.
/// </summary>
public sealed class LocalMetricsTests
{
    private sealed class Stub : ILocalMetric
    {
        public MetricStats? Stats(TimeSpan window) => null;

        public SeriesResult? Series(long fromMs, long toMs, TimeSpan step) => null;

        public TopResult? Top(TimeSpan window, int k, TopOrder by) => null;
    }

    [Fact]
    public void A_deactivation_removes_only_its_own_entry()
    {
        var local = new LocalMetrics();
        Stub old = new(), newer = new();
        local.Register("temp", old);
        local.Register("temp", newer); // a new activation registered before the old one left

        local.Unregister("temp", old);
        Assert.True(local.TryGet("temp", out var found));
        Assert.Same(newer, found);

        local.Unregister("temp", newer);
        Assert.False(local.TryGet("temp", out _));
        Assert.Equal(0, local.Count);
    }

    [Fact]
    public async Task The_active_grain_answers_in_place_as_its_grain_call_does_and_leaves_with_its_silo()
    {
        await using var cluster = await StartAsync(silos: 2);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var events = Enumerable.Range(0, 300).Select(n => Ev($"dev-{n % 7}", "temp", n * 0.5, now - (n * 10))).ToList();
        await ProduceAsync(cluster, events);
        var viaGrain = await SettledStatsAsync(cluster, "temp", events.Count, TimeSpan.FromHours(1));

        var registries = cluster.Silos.Select(s => (Silo: s, Local: s.ServiceProvider.GetRequiredService<LocalMetrics>())).ToList();
        var holders = registries.Where(r => r.Local.TryGet("temp", out _)).ToList();
        var holder = Assert.Single(holders); // one activation in the cluster, registered where it lives
        Assert.True(holder.Local.TryGet("temp", out var here));
        // The window's bounds follow the wall clock, which may cross a bucket between the two reads.
        Assert.Equal(viaGrain with { FromMs = 0, ToMs = 0 }, here.Stats(TimeSpan.FromHours(1))! with { FromMs = 0, ToMs = 0 });
        Assert.Equal(
            (await cluster.GrainFactory.GetGrain<IMetricGrain>("temp").GetTop(TimeSpan.FromHours(1), 3, TopOrder.Count))!.Items,
            here.Top(TimeSpan.FromHours(1), 3, TopOrder.Count)!.Items);

        // A stopped silo deactivates its grains, and each takes itself out of the registry.
        await cluster.StopSiloAsync(holder.Silo);
        Assert.False(holder.Local.TryGet("temp", out _));

        // The metric comes back in the silo left, from its stored state, and registers there.
        var survivor = registries.Single(r => r.Silo != holder.Silo).Local;
        Assert.Equal(events.Count, (await SettledStatsAsync(cluster, "temp", events.Count, TimeSpan.FromHours(1))).Count);
        Assert.True(survivor.TryGet("temp", out var moved));
        Assert.Equal(events.Count, moved.Stats(TimeSpan.FromHours(1))!.Count);
    }

    [Fact]
    public async Task Queries_beside_applies_see_whole_partials_and_never_fail()
    {
        var model = MetricModelTests.NewModel();
        const int partials = 2000, perPartial = 50;
        using var done = new CancellationTokenSource();
        using var reading = new ManualResetEventSlim();
        var reader = Task.Run(() =>
        {
            long last = 0, reads = 0;
            while (!done.IsCancellationRequested)
            {
                reading.Set();
                // Without the model's lock this throws (a dictionary changed under its enumerator)
                // or sees a partial half applied.
                var count = model.Stats(TimeSpan.FromHours(1), T0).Count;
                Assert.True(count >= last, $"the count went back from {last} to {count}");
                Assert.Equal(0, count % perPartial);
                _ = model.Top(TimeSpan.FromHours(1), 5, TopOrder.Max, T0);
                _ = model.Series(T0 - Hour, T0, TimeSpan.FromMinutes(1), T0, 1000);
                last = count;
                reads++;
            }

            return reads;
        });

        Assert.True(reading.Wait(TimeSpan.FromSeconds(30)), "the reader started");
        for (var p = 0; p < partials; p++)
        {
            var partial = new MetricPartial("m", 10_000);
            for (var n = 0; n < perPartial; n++)
            {
                // Each partial opens new buckets, so the dictionaries grow while they are read.
                partial.Add(Ev($"s{n}", "m", n, T0 - (p * Second) - n));
            }

            model.Apply(partial, T0);
            if (p % 50 == 0)
            {
                model.Maintain(T0);
            }
        }

        await done.CancelAsync();
        Assert.True(await reader > 0);
        Assert.Equal(partials * perPartial, model.Stats(TimeSpan.FromHours(1), T0).Count);
    }
}
