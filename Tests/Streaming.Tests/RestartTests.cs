using System.Globalization;
using Analytics.Streaming.LocalLog;

namespace Analytics.Streaming.Tests;

/// <summary>Checkpoints across the end of a cluster: a graceful stop, a kill, a silo lost from a running cluster.</summary>
public sealed class RestartTests : IDisposable
{
    private readonly TestData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task A_graceful_stop_checkpoints_every_queue_at_its_end_and_a_restart_reads_only_what_is_new()
    {
        // No periodic checkpoint: only the one a graceful stop takes can move the checkpoints.
        var settings = _data.Settings with { CheckpointInterval = TimeSpan.FromHours(1) };
        await using (var first = await StreamCluster.StartAsync(settings))
        {
            await first.AppendAsync(0, 1000, keys: 20);
            await Eventually.TrueAsync(async () => await first.CountAsync(20) >= 1000, "the first 1000 arrive");
            await first.Cluster.StopAllSilosAsync();
        }

        await AssertCheckpointedToTheEndAsync(settings);

        await using var second = await StreamCluster.StartAsync(settings);
        await second.AppendAsync(1000, 500, keys: 20);
        await Eventually.TrueAsync(async () => await second.CountAsync(20) >= 1500, "the next 500 arrive");
        await Task.Delay(300);
        await second.AssertExactAsync(1500, keys: 20);
        Assert.Equal(500, second.Statistics.Sum(s => s.Records));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(400)]
    public async Task After_a_kill_a_restart_replays_from_the_checkpoint_and_counts_nothing_twice(int settleMs)
    {
        // With a settle, each checkpoint waits before it asks the consumers; what it covers is still what was read when it began.
        var settings = _data.Settings with { CheckpointSettle = TimeSpan.FromMilliseconds(settleMs) };
        await using (var first = await StreamCluster.StartAsync(settings))
        {
            await first.AppendAsync(0, 2000, keys: 20);
            await Eventually.TrueAsync(async () => await first.CountAsync(20) >= 1000, "half the items arrive");
            await Eventually.TrueAsync(() => Task.FromResult(first.Statistics.All(s => s.Checkpoints > 0)), "every queue has a checkpoint");
            await first.Cluster.KillSiloAsync(first.LiveSilo);
        }

        var checkpoints = await CheckpointsAsync(settings);

        await using var second = await StreamCluster.StartAsync(settings);
        await second.AppendAsync(2000, 1000, keys: 20);
        await Eventually.TrueAsync(async () => await second.CountAsync(20) >= 3000, "every item arrives after the restart");
        await Task.Delay(500);
        await second.AssertExactAsync(3000, keys: 20);
        // It resumed from the checkpoints, not from the start of the log.
        Assert.All(checkpoints, c => Assert.NotNull(c));
    }

    [Fact]
    public async Task A_second_silo_on_the_same_files_takes_over_from_the_checkpoint_when_the_first_stops()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings);
        await cluster.AppendAsync(0, 3000, keys: 20);
        await Eventually.TrueAsync(async () => await cluster.CountAsync(20) >= 3000, "the first 3000 arrive");

        var second = await cluster.Cluster.StartAdditionalSiloAsync();
        await cluster.Cluster.StopSiloAsync(cluster.Cluster.Silos[0]);
        await cluster.Cluster.WaitForLivenessToStabilizeAsync();
        await cluster.AppendAsync(3000, 2000, keys: 20);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(20) >= 5000, "all 5000 arrive");
        await Task.Delay(500);
        await cluster.AssertExactAsync(5000, keys: 20);
        Assert.Equal(4, second.ServiceProvider.GetQueueStatistics().Active.Count);
    }

    [Fact]
    public async Task When_a_silo_is_killed_mid_stream_its_queues_move_and_every_item_counts_once()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { Silos = 2, Partitions = 8 });
        await cluster.AppendAsync(0, 2000, keys: 40);
        await Eventually.TrueAsync(async () => await cluster.CountAsync(40) >= 1000, "delivery is under way");

        var victim = cluster.Cluster.Silos[1];
        var producing = cluster.AppendAsync(2000, 2000, keys: 40);
        await cluster.Cluster.KillSiloAsync(victim);
        await producing;
        await cluster.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(40) >= 4000, "every item arrives after the fail-over", TimeSpan.FromSeconds(90), async () =>
            $"{await cluster.CountAsync(40)} counted; queues: " + string.Join(", ", cluster.Statistics.Select(s => $"{s.Queue} active={s.Active} records={s.Records} rewinds={s.Rewinds} checkpoints={s.Checkpoints} committed={s.Committed} last={s.LastDelivered}")));
        await Task.Delay(1000);
        await cluster.AssertExactAsync(4000, keys: 40);
    }

    private static async Task<QueuePosition?[]> CheckpointsAsync(StreamClusterSettings settings)
    {
        using var metadata = new LocalLogMetadataStore(new LocalLogOptions { DataPath = settings.DataPath, Partitions = settings.Partitions });
        var checkpoints = new QueuePosition?[settings.Partitions];
        for (var partition = 0; partition < settings.Partitions; partition++)
        {
            checkpoints[partition] = await metadata.LoadAsync(partition.ToString(CultureInfo.InvariantCulture), CancellationToken.None);
        }

        return checkpoints;
    }

    private static async Task AssertCheckpointedToTheEndAsync(StreamClusterSettings settings)
    {
        var options = new LocalLogOptions { DataPath = settings.DataPath, Partitions = settings.Partitions };
        using var metadata = new LocalLogMetadataStore(options);
        for (var partition = 0; partition < settings.Partitions; partition++)
        {
            await using var reader = new LocalLogReader(Path.Combine(settings.DataPath, $"partition-{partition:D3}.db"), fullSync: false);
            await reader.InitializeAsync(null, CancellationToken.None);
            var records = await reader.ReadAsync(100_000, CancellationToken.None);
            var queue = partition.ToString(CultureInfo.InvariantCulture);
            Assert.Equal(records[^1].Position, await metadata.LoadAsync(queue, CancellationToken.None));
        }
    }
}
