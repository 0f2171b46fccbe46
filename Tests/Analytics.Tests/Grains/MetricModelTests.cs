using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Metrics;
using Analytics.Grains.Streaming;
using Orleans.Runtime;
using FsCheck;
using FsCheck.Fluent;
using static Analytics.Tests.Grains.AnalyticsTestKit;

namespace Analytics.Tests.Grains;

/// <summary>The metric model and its storage without a cluster: many random cases per second.</summary>
public sealed class MetricModelTests
{
    private static readonly AnalyticsOptions Defaults = new();

    // Ages up to 40 days: most in the finest tier, some only in coarser ones, some late.
    private static readonly Gen<long> Ages = Gen.Frequency(
        (6, Gen.Choose(0, 3_600_000).Select(a => (long)a)),
        (3, Gen.Choose(0, 48 * 60).Select(m => m * Minute)),
        (2, Gen.Choose(0, 40 * 24).Select(h => (h * Hour) + 17)));

    private static readonly Arbitrary<(AnalyticsEvent[] Events, int[] Cuts)> Streams =
        (from count in Gen.Choose(1, 300)
         from events in Gen.ArrayOf(
             from source in Gen.Choose(0, 40)
             from value in Gen.Choose(-100_000, 100_000)
             from age in Ages
             select Ev($"s{source}", "m", value / 4.0, T0 - age), count)
         from cuts in Gen.ArrayOf(Gen.Choose(0, count), 4)
         select (events, cuts)).ToArbitrary();

    internal static MetricModel NewModel(AnalyticsOptions? options = null)
    {
        options ??= Defaults;
        return new MetricModel(options.GetMetricTiers(), options.TopKCapacity, new DistinctSources(new Dictionary<string, long>(), options.DistinctSourceCapacity));
    }

    internal static void ApplyInBatches(MetricModel model, IReadOnlyList<AnalyticsEvent> events, IEnumerable<int> cuts, long now)
    {
        var bounds = cuts.Append(0).Append(events.Count).Distinct().Order().ToList();
        for (var i = 0; i + 1 < bounds.Count; i++)
        {
            var partial = new MetricPartial("m", 10_000);
            for (var n = bounds[i]; n < bounds[i + 1]; n++)
            {
                partial.Add(events[n]);
            }

            model.Apply(partial, now);
        }
    }

    [Fact]
    public void Stats_match_a_model_of_the_events_whatever_the_batching()
    {
        Prop.ForAll(Streams, input =>
        {
            var model = NewModel();
            ApplyInBatches(model, input.Events, input.Cuts, T0);
            AssertMatches(model, input.Events);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(60));
    }

    [Fact]
    public void Written_and_reloaded_state_answers_the_same_also_after_a_crash_between_snapshot_and_state()
    {
        Prop.ForAll(Streams, input =>
        {
            var states = new FakeStates();
            var clock = new ManualClock(T0);
            var options = new AnalyticsOptions { CompactionBucketThreshold = 5 };
            var store = states.Store(options, clock);
            var model = store.Load(options.GetMetricTiers());
            var half = input.Events.Length / 2;
            ApplyInBatches(model, input.Events[..half], input.Cuts.Where(c => c < half), T0);
            store.WriteAsync(model, T0).GetAwaiter().GetResult();

            // The next write takes a snapshot when 5 buckets changed; its final write fails, as if the silo died there.
            ApplyInBatches(model, input.Events[half..], [], T0);
            states.FailNextStateWrite = true;
            Assert.Throws<IOException>(() => store.WriteAsync(model, T0).GetAwaiter().GetResult());
            AssertMatches(states.Copy().Store(options, clock).Load(options.GetMetricTiers()), input.Events[..half]);

            store.WriteAsync(model, T0).GetAwaiter().GetResult();
            var reloaded = states.Copy().Store(options, clock).Load(options.GetMetricTiers());
            AssertMatches(reloaded, input.Events);
            Assert.Equal(model.Stats(TimeSpan.FromDays(30), T0), reloaded.Stats(TimeSpan.FromDays(30), T0));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(40));
    }

    [Fact]
    public void Distinct_sources_are_exact_for_thousands_and_saturate_at_the_capacity()
    {
        var model = NewModel();
        var events = Enumerable.Range(0, 3000).Select(n => Ev($"s{n}", "m", 1, T0 - (n * 1000))).ToList();
        ApplyInBatches(model, events, [1000, 2000], T0);
        Assert.Equal(3000, model.Stats(TimeSpan.FromHours(1), T0).DistinctSources);
        Assert.Equal(events.Count(e => e.Timestamp >= model.Stats(TimeSpan.FromMinutes(5), T0).FromMs), model.Stats(TimeSpan.FromMinutes(5), T0).DistinctSources);

        var small = NewModel(new AnalyticsOptions { DistinctSourceCapacity = 100 });
        ApplyInBatches(small, events, [], T0);
        small.Maintain(T0);
        Assert.True(small.Sources.Saturated);
        Assert.Equal(100, small.Sources.Latest.Count);
        // The newest 100 are kept, so windows with at most 100 active sources stay exact.
        Assert.Equal(events.Count(e => e.Timestamp >= small.Stats(TimeSpan.FromMinutes(1), T0).FromMs), small.Stats(TimeSpan.FromMinutes(1), T0).DistinctSources);
        Assert.Equal(100, small.Stats(TimeSpan.FromHours(1), T0).DistinctSources);
    }

    [Fact]
    public void Beyond_the_top_k_capacity_heavy_sources_still_rank_first_with_upper_bound_counts()
    {
        var model = NewModel(new AnalyticsOptions { TopKCapacity = 16 });
        var random = new Random(4);
        var events = new List<AnalyticsEvent>();
        for (var n = 0; n < 20_000; n++)
        {
            // Three sources send 15%, 10% and 5% of the events; 2000 others share the rest.
            var pick = random.NextDouble();
            var source = pick < 0.15 ? "heavy-1" : pick < 0.25 ? "heavy-2" : pick < 0.30 ? "heavy-3" : $"light-{random.Next(2000)}";
            events.Add(Ev(source, "m", random.Next(100), T0 - random.Next(0, 3_000_000)));
        }

        ApplyInBatches(model, events, Enumerable.Range(1, 40).Select(i => i * 500), T0);
        var top = model.Top(TimeSpan.FromHours(1), 3, TopOrder.Count, T0).Items;
        Assert.Equal(["heavy-1", "heavy-2", "heavy-3"], top.Select(t => t.Source));
        foreach (var item in top)
        {
            Assert.True(item.Count >= events.Count(e => e.Source == item.Source), $"{item.Source}: {item.Count} is an upper bound");
        }
    }

    private static void AssertMatches(MetricModel model, IReadOnlyList<AnalyticsEvent> events)
    {
        var late = events.Count(e => e.Timestamp < TierAlign(T0, Hour) - (30 * Day));
        foreach (var window in new[] { TimeSpan.FromMinutes(5), TimeSpan.FromHours(1), TimeSpan.FromHours(24), TimeSpan.FromDays(30) })
        {
            var stats = model.Stats(window, T0);
            Assert.True(stats.FromMs <= T0 - (long)window.TotalMilliseconds && stats.ToMs > T0);
            var inWindow = events.Where(e => e.Timestamp >= stats.FromMs && e.Timestamp < stats.ToMs).ToList();
            var values = inWindow.Select(e => e.Value).Order().ToList();
            Assert.Equal(values.Count, stats.Count);
            Assert.Equal(values.Sum(), stats.Sum);
            Assert.Equal(values.Count == 0 ? null : values[0], stats.Min);
            Assert.Equal(values.Count == 0 ? null : values[^1], stats.Max);
            Assert.Equal(inWindow.Select(e => e.Source).Distinct().Count(), stats.DistinctSources);
            Assert.Equal(late, stats.Late);
            if (values.Count > 0)
            {
                WithinOnePercent(LowerQuantile(values, 0.5), stats.P50, "p50");
                WithinOnePercent(LowerQuantile(values, 0.99), stats.P99, "p99");
            }

            // At most 41 sources, under the per-bucket capacity: the top is exact.
            var top = model.Top(window, 3, TopOrder.Count, T0).Items;
            var expected = inWindow.GroupBy(e => e.Source).Select(g => (g.Key, Count: (long)g.Count()))
                .OrderByDescending(g => g.Count).ThenBy(g => g.Key, StringComparer.Ordinal).Take(3).ToList();
            Assert.Equal(expected.Select(g => (g.Key, g.Count)), top.Select(t => (t.Source, t.Count)));
        }

        var series = model.Series(T0 - (2 * Hour), T0 + Minute, TimeSpan.FromMinutes(5), T0, 10_000);
        Assert.Equal(
            events.Count(e => e.Timestamp >= series.Points[0].T && e.Timestamp < series.Points[^1].T + series.StepMs),
            series.Points.Sum(p => p.Count));
    }

    private static long TierAlign(long t, long size) => t - (t % size);

    /// <summary>The three states of a metric grain, kept as the JSON a storage provider would hold.</summary>
    private sealed class FakeStates
    {
        private FakeState<MetricState> _state = new();
        private FakeState<MetricSnapshot> _slot0 = new();
        private FakeState<MetricSnapshot> _slot1 = new();

        /// <summary>What storage holds now, for another activation to read.</summary>
        public FakeStates Copy() => new() { _state = _state.CopyStored(), _slot0 = _slot0.CopyStored(), _slot1 = _slot1.CopyStored() };

        public bool FailNextStateWrite
        {
            set => _state.FailNextWrite = value;
        }

        public MetricStore Store(AnalyticsOptions options, TimeProvider clock)
        {
            _state.ReadStateAsync().GetAwaiter().GetResult();
            _slot0.ReadStateAsync().GetAwaiter().GetResult();
            _slot1.ReadStateAsync().GetAwaiter().GetResult();
            return new MetricStore(_state, _slot0, _slot1, options, clock);
        }
    }
}

/// <summary>An IPersistentState that round-trips through the grain-state serializer, with a failure switch.</summary>
internal sealed class FakeState<T> : IPersistentState<T>
    where T : new()
{
    private static readonly Analytics.Grains.Persistence.JsonGrainStateSerializer Serializer = new();
    private byte[]? _stored;

    public T State { get; set; } = new();

    public string? Etag { get; set; }

    public bool RecordExists { get; set; }

    public bool FailNextWrite { get; set; }

    public int Writes { get; private set; }

    public long StoredBytes => _stored?.Length ?? 0;

    public FakeState<T> CopyStored() => new() { _stored = _stored };

    public Task ReadStateAsync()
    {
        State = _stored is null ? new T() : Serializer.Deserialize<T>(new BinaryData(_stored));
        RecordExists = _stored is not null;
        return Task.CompletedTask;
    }

    public Task WriteStateAsync()
    {
        if (FailNextWrite)
        {
            FailNextWrite = false;
            throw new IOException("injected write failure");
        }

        _stored = Serializer.Serialize(State).ToArray();
        RecordExists = true;
        Writes++;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync()
    {
        _stored = null;
        State = new T();
        RecordExists = false;
        return Task.CompletedTask;
    }
}
