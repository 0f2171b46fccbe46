using Analytics.Events;
using Analytics.Grains;
using Xunit.Abstractions;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>
/// The scenario for top sources: three silos, a kill, a graceful stop and a join while
/// events flow. With no more sources than the top-k sketch's capacity, every bucket's sketch is
/// exact, so the window's top-k must be exact too: the heaviest sources first, with their true counts.
/// </summary>
public sealed class TopKFailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Top_sources_by_count_stay_exact_through_a_kill_a_graceful_stop_and_a_join()
    {
        // 80 sources, as the users' report; capacity 80 keeps every bucket's sketch exact.
        await using var cluster = await StartAsync(silos: 3, configure: o => o.TopKCapacity = 80);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var random = new Random(11);
        // Skewed: src-00 and src-01 send far more than the rest, the shape the report was about.
        var events = new List<AnalyticsEvent>();
        for (var n = 0; n < 8000; n++)
        {
            var source = n % 4 == 0 ? "src-00" : n % 4 == 1 ? "src-01" : $"src-{2 + (n % 78):D2}";
            events.Add(Ev(source, "load", random.Next(0, 100), now - random.Next(0, 600_000), $"e-{n}"));
        }

        await ProduceAsync(cluster, events.Take(2000));
        await Eventually(async () => (await cluster.GrainFactory.GetGrain<IMetricGrain>("load").GetStats(TimeSpan.FromHours(1)))?.Count >= 500, "delivery is under way");

        var producing = Task.Run(async () =>
        {
            await ProduceAsync(cluster, events.Skip(2000).Take(3000));
            await ProduceAsync(cluster, events.Skip(2000).Take(300)); // producer retries: count once
            await ProduceAsync(cluster, events.Skip(5000));
        });
        var silos = cluster.Silos;
        await cluster.KillSiloAsync(silos[0]);
        await cluster.StopSiloAsync(silos[1]);
        await cluster.StartAdditionalSiloAsync();
        await producing;
        await cluster.WaitForLivenessToStabilizeAsync();

        await SettledStatsAsync(cluster, "load", events.Count, TimeSpan.FromHours(1), TimeSpan.FromSeconds(60));
        var metric = cluster.GrainFactory.GetGrain<IMetricGrain>("load");
        var truth = events.GroupBy(e => e.Source).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
        var all = (await metric.GetTop(TimeSpan.FromHours(1), 80, TopOrder.Count))!;
        output.WriteLine(string.Join(", ", all.Items.Select(i => $"{i.Source}={i.Count}")));

        Assert.Equal(events.Count, (await metric.GetStats(TimeSpan.FromHours(1)))!.Count);
        // Every source's own grain counts exactly too: no activation that a failover left behind answers.
        foreach (var (source, count) in truth)
        {
            Assert.Equal((source, count), (source, (await cluster.GrainFactory.GetGrain<ISourceGrain>(source).GetSummary(TimeSpan.FromHours(1)))!.Metrics["load"].Count));
        }

        // All 80 sources fit the sketch, so its counts are exact, the heaviest first.
        var expected = truth.Select(x => (Source: x.Key, Count: x.Value))
            .OrderByDescending(x => x.Count).ThenBy(x => x.Source, StringComparer.Ordinal)
            .ToList();
        Assert.Equal(expected, all.Items.Select(i => (i.Source, i.Count)).ToList());
        var top = (await metric.GetTop(TimeSpan.FromHours(1), 10, TopOrder.Count))!;
        Assert.Equal(expected.Take(10), top.Items.Select(i => (i.Source, i.Count)));
    }
}
