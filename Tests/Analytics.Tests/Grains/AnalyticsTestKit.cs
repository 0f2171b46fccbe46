using System.Text;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Streaming;
using Analytics.Streaming.LocalLog;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.TestingHost;

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

/// <summary>
/// The analytics grains on an Orleans in-process test cluster (in-memory transport and
/// membership), fed by the real local-log stream provider in a temporary folder, with grain
/// storage that survives a killed silo exactly as a real store would.
/// </summary>
internal sealed class AnalyticsCluster : IAsyncDisposable
{
    private readonly string _data;
    private readonly string _store;

    private AnalyticsCluster(InProcessTestCluster cluster, string data, string store)
    {
        Cluster = cluster;
        _data = data;
        _store = store;
    }

    public InProcessTestCluster Cluster { get; }

    public IGrainFactory GrainFactory => Cluster.Client;

    public IReadOnlyList<InProcessSiloHandle> Silos => Cluster.GetActiveSilos().ToList();

    /// <summary>
    /// The producer's side of the local log: the test's own writer on the silos' data folder, as
    /// an ingest silo would be, so that appends never depend on a silo that a test kills.
    /// </summary>
    public LocalLogStore Writer { get; private init; } = null!;

    public Task AppendAsync(IReadOnlyList<(string StreamKey, ReadOnlyMemory<byte> Data)> records) =>
        Writer.AppendAsync(records, CancellationToken.None);

    /// <summary>The statistics of the queues the live silos read.</summary>
    public IReadOnlyList<QueueStatistics> Queues => Silos.SelectMany(s => s.ServiceProvider.GetQueueStatistics().All).ToList();

    private const int Partitions = 4;

    public static async Task<AnalyticsCluster> StartAsync(short silos, TimeProvider? clock, Action<AnalyticsOptions>? configure)
    {
        var data = Path.Combine(Path.GetTempPath(), "analytics-tests-" + Guid.NewGuid().ToString("N"));
        var store = Guid.NewGuid().ToString("N");
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) =>
        {
            if (clock is not null)
            {
                silo.Services.AddSingleton(clock);
            }

#pragma warning disable ORLEANSEXP003
            silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
            silo.Services.AddGrainStorage(AnalyticsStreams.Storage, (_, _) => new Analytics.Streaming.Tests.SharedGrainStorage(store, new Analytics.Grains.Persistence.JsonGrainStateSerializer()));
            silo.AddLocalLogStreams(
                AnalyticsStreams.Provider,
                log =>
                {
                    log.DataPath = data;
                    log.Partitions = Partitions;
                },
                streams => streams.CheckpointInterval = TimeSpan.FromMilliseconds(200),
                orleans => orleans.ConfigurePullingAgent(agent => agent.Configure(o => o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(10))));
            silo.AddAnalytics(configure);
        });
        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return new AnalyticsCluster(cluster, data, store)
        {
            Writer = new LocalLogStore(new LocalLogOptions { DataPath = data, Partitions = Partitions }, TimeProvider.System),
        };
    }

    /// <summary>States in this cluster's store whose state name starts with a prefix.</summary>
    public int StoredStates(string stateNamePrefix) => Analytics.Streaming.Tests.SharedGrainStorage.CountStates(_store, stateNamePrefix);

    /// <summary>Grain state writes into this cluster's store so far.</summary>
    public long StateWrites => Analytics.Streaming.Tests.SharedGrainStorage.Writes(_store);

    public Task KillSiloAsync(InProcessSiloHandle silo) => Cluster.KillSiloAsync(silo);

    public Task StopSiloAsync(InProcessSiloHandle silo) => Cluster.StopSiloAsync(silo);

    public Task StartAdditionalSiloAsync() => Cluster.StartAdditionalSiloAsync();

    public Task WaitForLivenessToStabilizeAsync() => Cluster.WaitForLivenessToStabilizeAsync();

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Writer.DisposeAsync();
        Analytics.Streaming.Tests.SharedGrainStorage.Delete(_store);
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class AnalyticsTestKit
{
    /// <summary>2026-11-21T10:00:05Z: 5 s into a 10 s bucket, so "a few seconds ago" stays in the current bucket.</summary>
    public const long T0 = 1_795_255_205_000;

    public const long Second = 1000;
    public const long Minute = 60 * Second;
    public const long Hour = 60 * Minute;
    public const long Day = 24 * Hour;

    public static Task<AnalyticsCluster> StartAsync(short silos = 1, TimeProvider? clock = null, Action<AnalyticsOptions>? configure = null) =>
        AnalyticsCluster.StartAsync(silos, clock, configure);

    /// <summary>Appends each event as a record of its own, in chunks.</summary>
    public static async Task ProduceAsync(AnalyticsCluster cluster, IEnumerable<AnalyticsEvent> events)
    {
        foreach (var chunk in events.Chunk(200))
        {
            await cluster.AppendAsync(chunk.Select(e => (e.Source, (ReadOnlyMemory<byte>)EventSerializer.SerializeToUtf8Bytes(e))).ToList());
        }
    }

    /// <summary>Appends one record per source holding all its events as NDJSON, as the HTTP ingest path does.</summary>
    public static async Task ProduceNdjsonAsync(AnalyticsCluster cluster, IEnumerable<AnalyticsEvent> events)
    {
        var records = events.GroupBy(e => e.Source).Select(group =>
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            EventSerializer.WriteNdjson(buffer, group);
            return (group.Key, buffer.WrittenMemory);
        }).ToList();
        await cluster.AppendAsync(records);
    }

    public static Task AppendRawAsync(AnalyticsCluster cluster, string source, string json) =>
        cluster.AppendAsync([(source, Encoding.UTF8.GetBytes(json))]);

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
    public static async Task<MetricStats> SettledStatsAsync(AnalyticsCluster cluster, string metric, long count, TimeSpan window, TimeSpan? timeout = null)
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
