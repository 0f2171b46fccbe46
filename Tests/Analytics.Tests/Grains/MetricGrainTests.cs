using Analytics.Events;
using Analytics.Grains;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>The metric grain through the whole pipeline: events appended to the stream, numbers read back from the grain.</summary>
public sealed class MetricGrainTests
{
    [Fact]
    public async Task Stats_are_exact_percentiles_within_one_percent_and_distinct_exact_for_every_window()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        var random = new Random(11);
        var events = Enumerable.Range(0, 1500)
            .Select(n => Ev($"dev-{n % 37:D2}", "temp", random.Next(-500, 501) + (random.Next(4) * 0.25), T0 - random.Next(0, 4 * 60_000)))
            .ToList();
        await ProduceNdjsonAsync(cluster, events.Take(700));
        await ProduceAsync(cluster, events.Skip(700));

        var values = events.Select(e => e.Value).Order().ToList();
        foreach (var window in new[] { TimeSpan.FromMinutes(5), TimeSpan.FromHours(1), TimeSpan.FromHours(24), TimeSpan.FromDays(7), TimeSpan.FromDays(30) })
        {
            var stats = await SettledStatsAsync(cluster, "temp", events.Count, window);
            Assert.Equal(events.Count, stats.Count);
            Assert.Equal(values.Sum(), stats.Sum);
            Assert.Equal(values[0], stats.Min);
            Assert.Equal(values[^1], stats.Max);
            Assert.Equal(values.Sum() / values.Count, stats.Mean!.Value, 9);
            WithinOnePercent(LowerQuantile(values, 0.5), stats.P50, "p50");
            WithinOnePercent(LowerQuantile(values, 0.9), stats.P90, "p90");
            WithinOnePercent(LowerQuantile(values, 0.95), stats.P95, "p95");
            WithinOnePercent(LowerQuantile(values, 0.99), stats.P99, "p99");
            Assert.Equal(37, stats.DistinctSources);
            Assert.Equal(0, stats.Late);
            Assert.True(stats.FromMs <= T0 - (long)window.TotalMilliseconds && stats.ToMs > T0, $"[{stats.FromMs}, {stats.ToMs}) covers the {window} window");
        }

        // The window's bucket alignment: 5m is served from 10 s buckets.
        var five = (await cluster.GrainFactory.GetGrain<IMetricGrain>("temp").GetStats(TimeSpan.FromMinutes(5)))!;
        Assert.Equal(T0 - (5 * Minute) - (5 * Second), five.FromMs);
        Assert.Equal(T0 + (5 * Second), five.ToMs);
        Assert.Contains("temp", await cluster.GrainFactory.GetGrain<IMetricCatalogGrain>("all").List());
    }

    [Fact]
    public async Task Out_of_order_events_land_in_their_buckets_and_series_have_empty_steps()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        // Newest first: each later append is older in event time.
        long[] ages = [5 * Second, 3 * Minute, 31 * Minute, 50 * Minute, 3 * Hour, 30 * Hour];
        var events = ages.SelectMany((age, i) => Enumerable.Range(0, i + 1).Select(n => Ev($"s{n}", "load", (i * 10) + n, T0 - age))).ToList();
        foreach (var e in events)
        {
            await ProduceAsync(cluster, [e]);
        }

        var grain = cluster.GrainFactory.GetGrain<IMetricGrain>("load");
        await SettledStatsAsync(cluster, "load", events.Count, TimeSpan.FromDays(7));
        Assert.Equal(1 + 2, (await grain.GetStats(TimeSpan.FromMinutes(5)))!.Count);
        Assert.Equal(1 + 2 + 3 + 4, (await grain.GetStats(TimeSpan.FromHours(1)))!.Count);
        Assert.Equal(1 + 2 + 3 + 4 + 5, (await grain.GetStats(TimeSpan.FromHours(24)))!.Count);

        // The last hour at 1 minute: exact points where the events are, empty steps elsewhere.
        var series = (await grain.GetSeries(T0 - Hour, T0, TimeSpan.FromMinutes(1)))!;
        Assert.Equal(Minute, series.StepMs);
        Assert.Equal(Enumerable.Range(0, series.Points.Count).Select(i => series.Points[0].T + (i * Minute)), series.Points.Select(p => p.T));
        Assert.True(series.Points[0].T <= T0 - Hour && series.Points[^1].T + Minute >= T0);
        foreach (var point in series.Points)
        {
            var expected = events.Where(e => e.Timestamp >= point.T && e.Timestamp < point.T + Minute).Select(e => e.Value).ToList();
            Assert.Equal(expected.Count, point.Count);
            Assert.Equal(expected.Sum(), point.Sum);
            Assert.Equal(expected.Count == 0 ? null : expected.Min(), point.Min);
            Assert.Equal(expected.Count == 0 ? null : expected.Max(), point.Max);
            Assert.Equal(expected.Count == 0 ? null : expected.Average(), point.Mean);
            Assert.Equal(expected.Count == 0, point.P50 is null && point.P99 is null);
        }

        Assert.Contains(series.Points, p => p.Count == 0);

        // Ten-second steps from the finest tier, and a day at one hour from the coarsest.
        var fine = (await grain.GetSeries(T0 - (4 * Minute), T0 + Second, TimeSpan.FromSeconds(10)))!;
        Assert.Equal(25, fine.Points.Count);
        Assert.Equal(2, fine.Points.Single(p => p.T == T0 - (3 * Minute) - (5 * Second)).Count);
        Assert.Equal(1, fine.Points[^1].Count);
        var day = (await grain.GetSeries(T0 - (2 * Day), T0, TimeSpan.FromHours(1)))!;
        Assert.Equal(events.Count, day.Points.Sum(p => p.Count));
        Assert.Equal(6, day.Points.Single(p => p.T == TierAlign(T0 - (30 * Hour), Hour)).Count);
    }

    [Fact]
    public async Task Events_older_than_every_retained_bucket_are_counted_late_and_not_aggregated()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        await ProduceAsync(cluster, [
            Ev("a", "m", 1, T0 - Second),
            Ev("a", "m", 1000, T0 - (31 * Day)),
            Ev("b", "m", 2000, T0 - (40 * Day)),
            Ev("c", "m", 5, T0 - (29 * Day)),
        ]);

        var grain = cluster.GrainFactory.GetGrain<IMetricGrain>("m");
        await Eventually(async () => (await grain.GetStats(TimeSpan.FromDays(30)))?.Late == 2, "two late events");
        var month = (await grain.GetStats(TimeSpan.FromDays(30)))!;
        Assert.Equal(2, month.Count);
        Assert.Equal(6, month.Sum);
        Assert.Equal(5, month.Max);
        Assert.Equal(2, month.DistinctSources);
        var recent = (await grain.GetStats(TimeSpan.FromMinutes(5)))!;
        Assert.Equal(1, recent.Count);
        Assert.Equal(1, recent.DistinctSources);
        Assert.Equal(2, recent.Late);
    }

    [Fact]
    public async Task Negative_and_huge_values_are_exact()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        await ProduceAsync(cluster, [
            Ev("big-1", "huge", 1e300, T0 - 1000),
            Ev("big-2", "huge", -1e300, T0 - 2000),
            Ev("big-1", "huge", 1e300, T0 - 3000),
            Ev("small", "huge", -0.5, T0 - 4000),
            Ev("small", "huge", 0, T0 - 4000),
        ]);

        var stats = await SettledStatsAsync(cluster, "huge", 5, TimeSpan.FromMinutes(5));
        Assert.Equal(1e300, stats.Max);
        Assert.Equal(-1e300, stats.Min);
        Assert.Equal(1e300 + -1e300 + 1e300 + -0.5, stats.Sum);
        Assert.Equal(3, stats.DistinctSources);
        // Sorted: -1e300, -0.5, 0, 1e300, 1e300; lower rank floor(q * 4).
        Assert.Equal(0, stats.P50);
        WithinOnePercent(1e300, stats.P90, "p90");
        var top = (await cluster.GrainFactory.GetGrain<IMetricGrain>("huge").GetTop(TimeSpan.FromMinutes(5), 3, TopOrder.Max))!;
        Assert.Equal(["big-1", "small", "big-2"], top.Items.Select(i => i.Source));
        Assert.Equal(1e300, top.Items[0].Mean);
    }

    [Fact]
    public async Task Top_k_ranks_sources_by_count_max_and_mean_exactly_when_few()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        var random = new Random(5);
        var events = Enumerable.Range(0, 30)
            .SelectMany(s => Enumerable.Range(0, 1 + (s * 7 % 23)).Select(_ => Ev($"src-{s:D2}", "rps", random.Next(0, 1000), T0 - random.Next(0, 50 * 60_000))))
            .ToList();
        await ProduceAsync(cluster, events.OrderBy(_ => random.Next()));
        await SettledStatsAsync(cluster, "rps", events.Count, TimeSpan.FromHours(1));
        var model = events.GroupBy(e => e.Source)
            .Select(g => new TopItem(g.Key, g.Count(), g.Max(e => e.Value), g.Sum(e => e.Value) / g.Count()))
            .ToList();
        var grain = cluster.GrainFactory.GetGrain<IMetricGrain>("rps");
        foreach (var (by, order) in new (TopOrder, Func<TopItem, double>)[] { (TopOrder.Count, i => i.Count), (TopOrder.Max, i => i.Max), (TopOrder.Mean, i => i.Mean) })
        {
            var top = (await grain.GetTop(TimeSpan.FromHours(1), 5, by))!;
            var expected = model.OrderByDescending(order).ThenByDescending(i => i.Count).ThenBy(i => i.Source, StringComparer.Ordinal).Take(5).ToList();
            Assert.Equal(expected.Select(i => i.Source), top.Items.Select(i => i.Source));
            Assert.Equal(expected.Select(i => i.Count), top.Items.Select(i => i.Count));
            Assert.Equal(expected.Select(i => i.Max), top.Items.Select(i => i.Max));
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].Mean, top.Items[i].Mean, 9);
            }
        }
    }

    [Fact]
    public async Task Bad_windows_steps_and_k_are_argument_errors_and_an_unseen_metric_is_null()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        await ProduceAsync(cluster, [Ev("a", "cpu", 1, T0)]);
        await SettledStatsAsync(cluster, "cpu", 1, TimeSpan.FromMinutes(5));
        var grain = cluster.GrainFactory.GetGrain<IMetricGrain>("cpu");

        var notMultiple = await Assert.ThrowsAsync<ArgumentException>(() => grain.GetSeries(T0 - (10 * Minute), T0, TimeSpan.FromSeconds(15)));
        Assert.Contains("step 15s is not a multiple of 10s", notMultiple.Message);
        var coarse = await Assert.ThrowsAsync<ArgumentException>(() => grain.GetSeries(T0 - (3 * Day), T0, TimeSpan.FromMinutes(1)));
        Assert.Contains("multiple of 1h", coarse.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => grain.GetSeries(T0, T0 - Hour, TimeSpan.FromMinutes(1)));
        await Assert.ThrowsAsync<ArgumentException>(() => grain.GetSeries(T0 - Hour, T0, TimeSpan.Zero));
        await Assert.ThrowsAsync<ArgumentException>(() => grain.GetSeries(T0 - (20 * Day), T0, TimeSpan.FromSeconds(10)));
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => grain.GetStats(TimeSpan.FromDays(31)));
        Assert.Contains("30d", tooLong.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => grain.GetStats(TimeSpan.Zero));
        await Assert.ThrowsAsync<ArgumentException>(() => grain.GetTop(TimeSpan.FromMinutes(5), 0, TopOrder.Count));

        var unseen = cluster.GrainFactory.GetGrain<IMetricGrain>("never.seen");
        Assert.Null(await unseen.GetStats(TimeSpan.FromMinutes(5)));
        Assert.Null(await unseen.GetSeries(T0 - Hour, T0, TimeSpan.FromMinutes(1)));
        Assert.Null(await unseen.GetTop(TimeSpan.FromMinutes(5), 10, TopOrder.Count));
        Assert.DoesNotContain("never.seen", await cluster.GrainFactory.GetGrain<IMetricCatalogGrain>("all").List());
    }

    [Fact]
    public async Task Values_events_become_one_event_per_metric_and_the_catalog_lists_them_sorted()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        var at = TimestampParser.Format(T0 - 2000);
        var record = $$"""{"source":"dev-1","values":{"humidity":40.5,"pressure":1013,"temp":21.5},"timestamp":"{{at}}","id":"dev-1-7"}""";
        await AppendRawAsync(cluster, "dev-1", record);
        await AppendRawAsync(cluster, "dev-1", record); // resent by the producer: counted once
        await AppendRawAsync(cluster, "dev-2", $$"""[{"source":"dev-2","values":{"temp":19},"timestamp":"{{at}}"},{"source":"dev-2","metric":"temp","value":20,"timestamp":"{{at}}"}]""");

        var temp = await SettledStatsAsync(cluster, "temp", 3, TimeSpan.FromMinutes(5));
        Assert.Equal(21.5 + 19 + 20, temp.Sum);
        Assert.Equal(2, temp.DistinctSources);
        Assert.Equal(40.5, (await SettledStatsAsync(cluster, "humidity", 1, TimeSpan.FromMinutes(5))).Sum);
        Assert.Equal(1, (await SettledStatsAsync(cluster, "pressure", 1, TimeSpan.FromMinutes(5))).Count);
        var summary = (await cluster.GrainFactory.GetGrain<ISourceGrain>("dev-1").GetSummary(TimeSpan.FromHours(1)))!;
        Assert.Equal(["humidity", "pressure", "temp"], summary.Metrics.Keys.Order(StringComparer.Ordinal));
        Assert.All(summary.Metrics.Values, m => Assert.Equal(1, m.Count));
        await Eventually(async () => (await cluster.GrainFactory.GetGrain<IMetricCatalogGrain>("all").List()).Count == 3, "three metrics in the catalog");
        Assert.Equal(["humidity", "pressure", "temp"], await cluster.GrainFactory.GetGrain<IMetricCatalogGrain>("all").List());
    }

    private static long TierAlign(long t, long size) => t - (t % size);
}
