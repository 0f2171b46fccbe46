using Analytics.Grains;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

public sealed class PersistenceTests
{
    [Fact]
    public async Task Grains_moved_to_another_silo_reload_their_numbers_and_their_dedup_claims()
    {
        var clock = new ManualClock(T0);
        // A low snapshot threshold, so the reload goes through a bucket snapshot plus changed buckets.
        await using var cluster = await StartAsync(clock: clock, configure: o => o.CompactionBucketThreshold = 4);
        var random = new Random(9);
        var events = Enumerable.Range(0, 600)
            .Select(n => Ev($"dev-{n % 20}", n % 2 == 0 ? "temp" : "hum", random.Next(-50, 51), T0 - random.Next(0, 20 * 3_600_000), $"id-{n}"))
            .ToList();
        await ProduceAsync(cluster, events.Take(400));
        await SettledStatsAsync(cluster, "temp", 200, TimeSpan.FromDays(1));
        await ProduceAsync(cluster, events.Skip(400));
        await SettledStatsAsync(cluster, "hum", 300, TimeSpan.FromDays(1));
        var before = await ReadAllAsync(cluster);

        // A graceful move: every grain flushes on deactivation and activates again on the new silo.
        var first = cluster.Silos[0];
        await cluster.StartAdditionalSiloAsync();
        await cluster.WaitForLivenessToStabilizeAsync();
        await cluster.StopSiloAsync(first);
        await cluster.WaitForLivenessToStabilizeAsync();
        var after = await ReadAllAsync(cluster);
        Assert.Equal(before, after);

        // The claims of the ids came back too: resends still count once.
        await ProduceAsync(cluster, events.Take(100));
        await ProduceAsync(cluster, [Ev("dev-0", "temp", 1000, T0, "fresh")]);
        var temp = await SettledStatsAsync(cluster, "temp", 301, TimeSpan.FromDays(1));
        Assert.Equal(events.Where(e => e.Metric == "temp").Sum(e => e.Value) + 1000, temp.Sum);
    }

    private static async Task<string> ReadAllAsync(AnalyticsCluster cluster)
    {
        var parts = new List<string>();
        foreach (var metric in new[] { "temp", "hum" })
        {
            var grain = cluster.GrainFactory.GetGrain<IMetricGrain>(metric);
            foreach (var window in new[] { TimeSpan.FromHours(1), TimeSpan.FromDays(1), TimeSpan.FromDays(7) })
            {
                parts.Add((await grain.GetStats(window))!.ToString());
                parts.Add(string.Join(",", (await grain.GetTop(window, 5, TopOrder.Mean))!.Items));
            }

            parts.Add(string.Join(",", (await grain.GetSeries(T0 - Day, T0, TimeSpan.FromHours(1)))!.Points));
        }

        for (var s = 0; s < 20; s++)
        {
            var summary = (await cluster.GrainFactory.GetGrain<ISourceGrain>($"dev-{s}").GetSummary(TimeSpan.FromHours(24)))!;
            parts.Add($"{summary.FirstSeen} {summary.LastSeen} " + string.Join(",", summary.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal)));
        }

        parts.Add(string.Join(",", await cluster.GrainFactory.GetGrain<IMetricCatalogGrain>("all").List()));
        return string.Join("\n", parts);
    }
}
