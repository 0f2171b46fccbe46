using Analytics.Grains;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

public sealed class SourceGrainTests
{
    [Fact]
    public async Task Summary_has_window_aggregates_the_latest_value_by_event_time_and_first_and_last_seen()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        // The newest reading arrives first; a later arrival with an older timestamp must not replace it.
        await ProduceAsync(cluster, [
            Ev("dev-9", "temp", 25, T0 - (2 * Second)),
            Ev("dev-9", "temp", 20, T0 - (10 * Minute)),
            Ev("dev-9", "temp", -3.5, T0 - (30 * Minute)),
            Ev("dev-9", "temp", 99, T0 - (5 * Hour)),
            Ev("dev-9", "temp", 7, T0 - (3 * Day)),
            Ev("dev-9", "humidity", 40, T0 - (2 * Hour)),
        ]);

        var grain = cluster.GrainFactory.GetGrain<ISourceGrain>("dev-9");
        await Eventually(async () => (await grain.GetSummary(TimeSpan.FromHours(24)))?.Metrics.Values.Sum(m => m.Count) == 5, "the source has its events");

        var hour = (await grain.GetSummary(TimeSpan.FromHours(1)))!;
        Assert.Equal(T0 - (3 * Day), hour.FirstSeen);
        Assert.Equal(T0 - (2 * Second), hour.LastSeen);
        var temp = hour.Metrics["temp"];
        Assert.Equal(25, temp.Last);
        Assert.Equal(T0 - (2 * Second), temp.LastTimestamp);
        Assert.Equal(3, temp.Count);
        Assert.Equal(-3.5, temp.Min);
        Assert.Equal(25, temp.Max);
        Assert.Equal((25 + 20 - 3.5) / 3, temp.Mean);
        var humidity = hour.Metrics["humidity"];
        Assert.Equal(0, humidity.Count);
        Assert.Null(humidity.Min);
        Assert.Null(humidity.Mean);
        Assert.Equal(40, humidity.Last);

        var day = (await grain.GetSummary(TimeSpan.FromHours(24)))!;
        Assert.Equal(4, day.Metrics["temp"].Count);
        Assert.Equal(99, day.Metrics["temp"].Max);
        Assert.Equal(1, day.Metrics["humidity"].Count);

        // A source's history is 24 h; longer windows are refused, unknown sources are null.
        await Assert.ThrowsAsync<ArgumentException>(() => grain.GetSummary(TimeSpan.FromDays(2)));
        Assert.Null(await cluster.GrainFactory.GetGrain<ISourceGrain>("never-seen").GetSummary(TimeSpan.FromHours(1)));
    }

    [Fact]
    public async Task Series_counts_each_step_with_empty_steps_and_refuses_steps_finer_than_its_buckets()
    {
        var clock = new ManualClock(T0);
        await using var cluster = await StartAsync(clock: clock);
        var events = new[] { 1, 1, 4, 9, 9, 9 }.Select((minutesAgo, i) => Ev("dev-3", "rpm", 100 + i, T0 - (minutesAgo * Minute))).ToList();
        await ProduceAsync(cluster, events);
        var grain = cluster.GrainFactory.GetGrain<ISourceGrain>("dev-3");
        await Eventually(async () => (await grain.GetSummary(TimeSpan.FromHours(1)))?.Metrics["rpm"].Count == 6, "all events");

        var series = (await grain.GetSeries("rpm", T0 - (10 * Minute), T0, TimeSpan.FromMinutes(1)))!;
        Assert.Equal(Minute, series.StepMs);
        Assert.Equal(11, series.Points.Count);
        foreach (var point in series.Points)
        {
            var inStep = events.Where(e => e.Timestamp >= point.T && e.Timestamp < point.T + Minute).ToList();
            Assert.Equal(inStep.Count, point.Count);
            Assert.Equal(inStep.Sum(e => e.Value), point.Sum);
            Assert.Equal(inStep.Count == 0 ? null : inStep.Max(e => e.Value), point.Max);
            Assert.Null(point.P50);
            Assert.Null(point.P99);
        }

        Assert.Equal(8, series.Points.Count(p => p.Count == 0));
        var wide = (await grain.GetSeries("rpm", T0 - (20 * Hour), T0, TimeSpan.FromHours(1)))!;
        Assert.Equal(6, wide.Points.Sum(p => p.Count));

        var error = await Assert.ThrowsAsync<ArgumentException>(() => grain.GetSeries("rpm", T0 - Hour, T0, TimeSpan.FromSeconds(10)));
        Assert.Contains("multiple of 1m", error.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => grain.GetSeries("rpm", T0 - (5 * Hour), T0, TimeSpan.FromMinutes(5)));
        Assert.Null(await grain.GetSeries("unknown", T0 - Hour, T0, TimeSpan.FromMinutes(1)));
    }
}
