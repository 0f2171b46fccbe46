using System.Globalization;
using Analytics.Streaming.LocalLog;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.TestingHost;

namespace Analytics.Streaming.Tests;

/// <summary>How a test cluster is set up; the data folder and the store survive the cluster when a test shares them.</summary>
public sealed record StreamClusterSettings(string DataPath, string Store)
{
    public short Silos { get; init; } = 1;

    public int Partitions { get; init; } = 4;

    public int BatchSize { get; init; } = 50;

    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan PendingCheckpointTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan CheckpointSettle { get; init; } = TimeSpan.Zero;

    public TimeSpan MaxEventDeliveryTime { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>When set, the provider is the in-memory one over these queues instead of the local log.</summary>
    public MemoryQueues? Memory { get; init; }
}

/// <summary>
/// An in-process Orleans test cluster (in-memory transport and membership: no ports, no
/// processes) with the local-log provider, the test decoder and page handler, and grain storage
/// that survives the cluster.
/// </summary>
public sealed class StreamCluster : IAsyncDisposable
{
    public const string Storage = "store";
    public const string Provider = "log";

    private StreamCluster(InProcessTestCluster cluster, StreamClusterSettings settings)
    {
        Cluster = cluster;
        Settings = settings;
    }

    public InProcessTestCluster Cluster { get; }

    public StreamClusterSettings Settings { get; }

    public IGrainFactory Grains => Cluster.Client;

    public static async Task<StreamCluster> StartAsync(StreamClusterSettings settings)
    {
        var builder = new InProcessTestClusterBuilder(settings.Silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.Services.AddGrainStorage(Storage, (_, _) => new SharedGrainStorage(settings.Store));
            void Streams(QueueStreamOptions streams)
            {
                streams.BatchSize = settings.BatchSize;
                streams.CheckpointInterval = settings.CheckpointInterval;
                streams.PendingCheckpointTimeout = settings.PendingCheckpointTimeout;
                streams.CheckpointSettle = settings.CheckpointSettle;
                streams.MaxDeliveryBackoff = TimeSpan.FromMilliseconds(200);
            }

            void Orleans(ISiloPersistentStreamConfigurator orleans) => orleans.ConfigurePullingAgent(agent => agent.Configure(o =>
            {
                o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(20);
                o.MaxEventDeliveryTime = settings.MaxEventDeliveryTime;
            }));

            if (settings.Memory is { } memory)
            {
                silo.AddQueueStreams(Provider, (sp, name) => new MemoryQueueAdapterFactory(name, sp, memory), Streams, Orleans);
            }
            else
            {
                silo.AddLocalLogStreams(
                    Provider,
                    log =>
                    {
                        log.DataPath = settings.DataPath;
                        log.Partitions = settings.Partitions;
                    },
                    Streams,
                    Orleans);
            }

            silo.AddQueuePageHandler(Provider, _ => new TestPageHandler());
            silo.AddQueueRecordDecoder(Provider, _ => new TestRecordDecoder());
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

        return new StreamCluster(cluster, settings);
    }

    /// <summary>A silo still running.</summary>
    public InProcessSiloHandle LiveSilo => Cluster.GetActiveSilos().First();

    public IQueueWriter Writer => LiveSilo.ServiceProvider.GetQueueWriter(Provider);

    public IEnumerable<QueueStatistics> Statistics =>
        Cluster.GetActiveSilos().SelectMany(s => s.ServiceProvider.GetQueueStatistics().All);

    /// <summary>Appends items n = from .. from+count-1, one record each: id "n", key "key-{n % keys}", value n % 7 + 1.</summary>
    public Task AppendAsync(int from, int count, int keys) =>
        AppendAsync(Enumerable.Range(from, count).Select(n => Item(n, keys)).Select(i => (i.Key, TestItem.Encode(i))).ToList());

    public async Task AppendAsync(IReadOnlyList<(string StreamKey, ReadOnlyMemory<byte> Data)> records)
    {
        for (var i = 0; i < records.Count; i += 200)
        {
            await Writer.AppendAsync(records.Skip(i).Take(200).ToList(), CancellationToken.None);
        }
    }

    public static TestItem Item(int n, int keys) =>
        new(n.ToString(CultureInfo.InvariantCulture), Key(n % keys), n % 7 + 1);

    public static string Key(int k) => $"key-{k}";

    public async Task<SumSnapshot[]> SumsAsync(int keys) =>
        await Task.WhenAll(Enumerable.Range(0, keys).Select(k => Grains.GetGrain<ISumGrain>(Key(k)).GetAsync()));

    public async Task<int> CountAsync(int keys) => (await SumsAsync(keys)).Sum(s => s.Ids.Count);

    /// <summary>Every item of 0 .. count-1 counted once, in order per key, with the right sums.</summary>
    public async Task AssertExactAsync(int count, int keys)
    {
        var sums = await SumsAsync(keys);
        for (var k = 0; k < keys; k++)
        {
            var expected = Enumerable.Range(0, count).Where(n => n % keys == k).ToList();
            Assert.Equal(expected.Select(n => n.ToString(CultureInfo.InvariantCulture)), sums[k].Ids);
            Assert.Equal(expected.Sum(n => (long)(n % 7 + 1)), sums[k].Sum);
        }
    }

    public ValueTask DisposeAsync() => Cluster.DisposeAsync();
}

public static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, string because, TimeSpan? timeout = null, Func<Task<string>>? describe = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting: {because}" + (describe is null ? "" : $" ({await describe()})"));
            }

            await Task.Delay(50);
        }
    }
}

/// <summary>A data folder and store of one test, removed after it.</summary>
public sealed class TestData : IDisposable
{
    public string DataPath { get; } = Path.Combine(Path.GetTempPath(), "streaming-tests-" + Guid.NewGuid().ToString("N"));

    public string Store { get; } = "store-" + Guid.NewGuid().ToString("N");

    public StreamClusterSettings Settings => new(DataPath, Store);

    public void Dispose()
    {
        SharedGrainStorage.Delete(Store);
        if (Directory.Exists(DataPath))
        {
            Directory.Delete(DataPath, recursive: true);
        }
    }
}
