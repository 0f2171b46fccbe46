using Analytics.Events;
using Analytics.Grains;
using Analytics.Streaming;
using Xunit.Abstractions;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

public sealed class FailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task After_a_silo_is_killed_mid_stream_every_number_is_still_exact_and_duplicates_still_count_once()
    {
        // Real time: a jumping fake clock would make the survivors declare each other dead.
        await using var cluster = await StartAsync(silos: 3);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var random = new Random(3);
        string[] metrics = ["cpu", "mem", "disk"];
        var events = Enumerable.Range(0, 6000)
            .Select(n => Ev($"host-{n % 40:D2}", metrics[n % 3], random.Next(-1000, 1001), now - random.Next(0, 120_000), n % 10 == 0 ? null : $"r-{n}"))
            .ToList();
        // Producer retries: every tenth event with an id is sent again, later, in another record.
        var resent = events.Where((e, n) => e.Id is not null && n % 7 == 0).ToList();

        await ProduceAsync(cluster, events.Take(3000));
        await Eventually(async () => (await cluster.GrainFactory.GetGrain<IMetricGrain>("cpu").GetStats(TimeSpan.FromHours(1)))?.Count >= 300, "delivery is under way");

        // Kill a silo that reads queues (so its un-checkpointed batches are replayed elsewhere) while events keep flowing.
        var victim = cluster.Silos.First(s => s.ServiceProvider.GetQueueStatistics().Active.Count > 0);
        var producing = Task.Run(async () =>
        {
            await ProduceAsync(cluster, resent.Take(resent.Count / 2));
            await ProduceAsync(cluster, events.Skip(3000));
            await ProduceAsync(cluster, resent.Skip(resent.Count / 2));
        });
        await cluster.KillSiloAsync(victim);
        await producing;
        await cluster.WaitForLivenessToStabilizeAsync();

        foreach (var metric in metrics)
        {
            var mine = events.Where(e => e.Metric == metric).Select(e => e.Value).ToList();
            var stats = await SettledStatsAsync(cluster, metric, mine.Count, TimeSpan.FromHours(1), TimeSpan.FromSeconds(40));
            await Task.Delay(700);
            stats = (await cluster.GrainFactory.GetGrain<IMetricGrain>(metric).GetStats(TimeSpan.FromHours(1)))!;
            Assert.Equal(mine.Count, stats.Count);
            Assert.Equal(mine.Sum(), stats.Sum);
            Assert.Equal(mine.Min(), stats.Min);
            Assert.Equal(mine.Max(), stats.Max);
            Assert.Equal(40, stats.DistinctSources);
        }

        var agents = cluster.Queues;
        output.WriteLine($"queues read by the survivors: {agents.Sum(a => a.Rewinds)} rewinds, {agents.Sum(a => a.Dropped)} duplicates dropped, {agents.Sum(a => a.Items)} items");
        Assert.True(agents.Sum(a => a.Dropped) > 0, "the resent events were dropped by the source grains");

        for (var s = 0; s < 40; s++)
        {
            var source = $"host-{s:D2}";
            var summary = (await cluster.GrainFactory.GetGrain<ISourceGrain>(source).GetSummary(TimeSpan.FromHours(1)))!;
            foreach (var metric in metrics)
            {
                var mine = events.Where(e => e.Source == source && e.Metric == metric).ToList();
                if (mine.Count > 0)
                {
                    Assert.Equal(mine.Count, summary.Metrics[metric].Count);
                    Assert.Equal(mine.Min(e => e.Value), summary.Metrics[metric].Min);
                    Assert.Equal(mine.Max(e => e.Value), summary.Metrics[metric].Max);
                }
            }
        }
    }
}
