using System.Text;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Tests.Grains;

/// <summary>
/// A clock that tests set by hand. Only the wall clock is faked: timers, delays and elapsed-time
/// measurements stay real, so the pulling agents, grain timers and membership keep running.
/// </summary>
/// <remarks>
/// Jumping it forward in a cluster of several silos would make every silo's heartbeat look stale
/// at once, so tests that move it use a single silo.
/// </remarks>
internal sealed class ManualClock(long nowMs) : TimeProvider
{
    private long _nowMs = nowMs;

    public long NowMs
    {
        get => Interlocked.Read(ref _nowMs);
        set => Interlocked.Exchange(ref _nowMs, value);
    }

    public void Advance(TimeSpan by) => Interlocked.Add(ref _nowMs, (long)by.TotalMilliseconds);

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(NowMs);
}

internal static class AnalyticsTestKit
{
    /// <summary>2026-11-21T10:00:05Z: 5 s into a 10 s bucket, so "a few seconds ago" stays in the current bucket.</summary>
    public const long T0 = 1_795_255_205_000;

    public const long Second = 1000;
    public const long Minute = 60 * Second;
    public const long Hour = 60 * Minute;
    public const long Day = 24 * Hour;

    public static Task<TestCluster> StartAsync(int silos = 1, TimeProvider? clock = null, Action<AnalyticsOptions>? configure = null) =>
        TestCluster.StartAsync(new TestClusterOptions
        {
            InitialSilos = silos,
            ConfigureServices = services =>
            {
                if (clock is not null)
                {
                    services.AddSingleton(clock);
                }
            },
            ConfigureSilo = silo =>
            {
                silo.AddMemoryGrainStorage(AnalyticsStreams.Storage);
                silo.AddMemoryStreams(AnalyticsStreams.Provider, 4, o =>
                {
                    o.PollInterval = TimeSpan.FromMilliseconds(10);
                    o.CheckpointInterval = TimeSpan.FromMilliseconds(200);
                });
                silo.AddAnalytics(configure);
            },
        });

    public static IStreamProvider Events(TestCluster cluster) => cluster.Silos[0].Services.GetStreamProvider(AnalyticsStreams.Provider);

    /// <summary>Appends each event as a record of its own, in chunks.</summary>
    public static async Task ProduceAsync(TestCluster cluster, IEnumerable<AnalyticsEvent> events)
    {
        foreach (var chunk in events.Chunk(200))
        {
            await Events(cluster).AppendAsync(chunk.Select(e => (new StreamId(AnalyticsStreams.Namespace, e.Source), (ReadOnlyMemory<byte>)EventSerializer.SerializeToUtf8Bytes(e))).ToList());
        }
    }

    /// <summary>Appends one record per source holding all its events as NDJSON, as the HTTP ingest path does.</summary>
    public static async Task ProduceNdjsonAsync(TestCluster cluster, IEnumerable<AnalyticsEvent> events)
    {
        var records = events.GroupBy(e => e.Source).Select(group =>
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            EventSerializer.WriteNdjson(buffer, group);
            return (new StreamId(AnalyticsStreams.Namespace, group.Key), buffer.WrittenMemory);
        }).ToList();
        await Events(cluster).AppendAsync(records);
    }

    public static Task AppendRawAsync(TestCluster cluster, string source, string json) =>
        Events(cluster).AppendAsync([(new StreamId(AnalyticsStreams.Namespace, source), Encoding.UTF8.GetBytes(json))]);

    public static async Task Eventually(Func<Task<bool>> condition, string because, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Condition not met in time: {because}");
            }

            await Task.Delay(25);
        }
    }

    /// <summary>Waits until the metric's count over the window reaches <paramref name="count"/>, then a little longer, so that a replay could show a double count.</summary>
    public static async Task<MetricStats> SettledStatsAsync(TestCluster cluster, string metric, long count, TimeSpan window, TimeSpan? timeout = null)
    {
        var grain = cluster.GrainFactory.GetGrain<IMetricGrain>(metric);
        await Eventually(async () => (await grain.GetStats(window))?.Count >= count, $"{metric} reaches {count} events", timeout);
        await Task.Delay(300);
        return (await grain.GetStats(window))!;
    }

    /// <summary>The value at rank floor(q (n - 1)) of the sorted values: the convention DDSketch answers for.</summary>
    public static double LowerQuantile(IReadOnlyList<double> sorted, double q) => sorted[(int)Math.Floor(q * (sorted.Count - 1))];

    public static void WithinOnePercent(double expected, double? actual, string what)
    {
        Assert.NotNull(actual);
        Assert.True(Math.Abs(actual!.Value - expected) <= (0.01 * Math.Abs(expected)) + 1e-9, $"{what}: expected {expected} within 1%, got {actual}");
    }

    public static AnalyticsEvent Ev(string source, string metric, double value, long timestamp, string? id = null) => new(source, metric, value, timestamp, id);
}
