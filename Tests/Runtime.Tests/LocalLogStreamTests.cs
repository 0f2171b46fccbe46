using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.LocalLog;
using Analytics.Runtime.Testing;

namespace Analytics.Runtime.Tests;

/// <summary>The durable local log as a stream provider, across silo restarts on the same files.</summary>
public sealed class LocalLogStreamTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "local-log-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private Task<TestCluster> StartAsync() => Clusters.StartAsync(silos: 1, configure: s => s.AddLocalLogStreams("numbers-log", new LocalLogOptions { DataPath = _folder, Partitions = 4 }, o =>
    {
        o.PollInterval = TimeSpan.FromMilliseconds(10);
        o.CheckpointInterval = TimeSpan.FromMilliseconds(200);
    }));

    private static Task AppendAsync(TestSilo silo, int from, int count) =>
        silo.Services.GetStreamProvider("numbers-log").AppendAsync(
            Enumerable.Range(from, count).Select(n => (new StreamId("numbers", $"key-{n % 20}"), (ReadOnlyMemory<byte>)System.Text.Json.JsonSerializer.SerializeToUtf8Bytes("v"))).ToList());

    private static async Task<int> TotalAsync(TestCluster cluster)
    {
        var total = 0;
        for (var k = 0; k < 20; k++)
        {
            total += (await cluster.GrainFactory.GetGrain<ITallyGrain>($"key-{k}").Counts()).Values.Sum();
        }

        return total;
    }

    [Fact]
    public async Task Items_appended_to_the_local_log_reach_subscribers_once_across_a_graceful_restart()
    {
        var cluster = await StartAsync();
        await AppendAsync(cluster.Silos[0], 0, 3000);
        await Clusters.Eventually(async () => await TotalAsync(cluster) == 3000, because: "the first 3000 arrive");

        // A second silo on the same files takes over after the first stops: it must resume from
        // the checkpoint, not from the start.
        var second = await cluster.StartAdditionalSiloAsync();
        await cluster.StopSiloAsync(cluster.Silos[0]);
        await cluster.WaitForLivenessToStabilizeAsync();
        await AppendAsync(second, 3000, 2000);
        await Clusters.Eventually(async () => await TotalAsync(cluster) >= 5000, because: "all 5000 arrive");
        await Task.Delay(500);
        Assert.Equal(5000, await TotalAsync(cluster));
        await cluster.DisposeAsync();
    }
}
