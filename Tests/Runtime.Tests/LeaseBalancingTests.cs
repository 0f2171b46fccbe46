using Analytics.Runtime.Hosting;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.Leases;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Runtime.Tests;

/// <summary>Lease-balanced queues (the Kinesis mode) over memory queues: fair shares, takeover after a kill, hand-over on a graceful stop.</summary>
public sealed class LeaseBalancingTests
{
    private const int Queues = 8;

    private static Task<TestCluster> StartAsync(int silos, TimeSpan? leaseDuration = null) =>
        Clusters.StartAsync(silos, silo => silo.UseLeaseBalancing(
            "numbers",
            sp => sp.GetRequiredService<InProcessFabric>().GetOrAddShared("leases", () => new MemoryQueueLeaseTable()),
            o =>
            {
                o.LeaseDuration = leaseDuration ?? TimeSpan.FromSeconds(1);
                o.RenewInterval = TimeSpan.FromMilliseconds(100);
            }),
            queueCount: Queues);

    private static MemoryQueueLeaseTable Table(TestCluster cluster) =>
        cluster.Fabric.GetOrAddShared("leases", () => new MemoryQueueLeaseTable());

    private static async Task<IReadOnlyList<QueueLease>> LeasesAsync(TestCluster cluster) =>
        await Table(cluster).ListAsync("numbers", CancellationToken.None);

    /// <summary>Every queue is read by exactly one live silo, and no silo reads more than one queue more than another.</summary>
    private static bool IsBalanced(TestCluster cluster)
    {
        var perSilo = cluster.Silos.Select(s => s.Services.GetPullingAgents().Select(a => a.Queue).ToList()).ToList();
        var all = perSilo.SelectMany(q => q).ToList();
        return all.Count == Queues && all.Distinct().Count() == Queues && perSilo.Max(q => q.Count) - perSilo.Min(q => q.Count) <= 1;
    }

    [Fact]
    public async Task Silos_that_join_take_a_fair_share_and_every_queue_has_one_reader()
    {
        await using var cluster = await StartAsync(silos: 1);
        await Clusters.Eventually(() => Task.FromResult(IsBalanced(cluster)), because: "one silo reads all 8 queues");
        Assert.Equal(Queues, cluster.Silos[0].Services.GetPullingAgents().Count());

        await cluster.StartAdditionalSiloAsync();
        await cluster.StartAdditionalSiloAsync();
        await Clusters.Eventually(() => Task.FromResult(IsBalanced(cluster)), because: "three silos share 8 queues 3/3/2");

        var leases = await LeasesAsync(cluster);
        var owners = cluster.Silos.Select(s => s.Address.ToString()).ToHashSet();
        Assert.All(leases, l => Assert.Contains(l.Owner ?? "none", owners));
        Assert.Equal(3, leases.Select(l => l.Owner).Distinct().Count());
    }

    [Fact]
    public async Task A_killed_silos_queues_are_taken_over_after_the_lease_expires_and_every_event_counts_once()
    {
        await using var cluster = await StartAsync(silos: 3);
        await Clusters.Eventually(() => Task.FromResult(IsBalanced(cluster)), because: "the queues are spread");
        await StreamTests.ProduceAsync(cluster, 0, 3000, keys: 30);
        await Clusters.Eventually(async () => await StreamTests.TotalAsync(cluster, 30) >= 1000, because: "delivery is under way");

        var victim = cluster.Silos.First(s => s.Services.GetPullingAgents().Any());
        var victimOwner = victim.Address.ToString();
        var producing = StreamTests.ProduceAsync(cluster, 3000, 3000, keys: 30);
        await cluster.KillSiloAsync(victim);
        await producing;
        await cluster.WaitForLivenessToStabilizeAsync();

        // A killed silo releases nothing: its leases stay its own until they expire, then the survivors take them.
        await Clusters.Eventually(
            async () => (await LeasesAsync(cluster)).All(l => l.Owner is not null && l.Owner != victimOwner) && IsBalanced(cluster),
            TimeSpan.FromSeconds(20),
            "the survivors hold every lease");
        await Clusters.Eventually(async () => await StreamTests.TotalAsync(cluster, 30) >= 6000, TimeSpan.FromSeconds(30), "every event is delivered after the takeover");
        await Task.Delay(500);
        for (var k = 0; k < 30; k++)
        {
            Assert.Equal(200, (await cluster.GrainFactory.GetGrain<ITallyGrain>($"key-{k}").Counts()).Values.Sum());
        }
    }

    [Fact]
    public async Task A_killed_silos_leases_are_taken_as_soon_as_it_is_declared_dead_not_when_they_expire()
    {
        // Leases that would take a minute to expire: only the membership's verdict can move them sooner.
        await using var cluster = await StartAsync(silos: 3, leaseDuration: TimeSpan.FromSeconds(60));
        await Clusters.Eventually(() => Task.FromResult(IsBalanced(cluster)), TimeSpan.FromSeconds(20), "the queues are balanced");
        await StreamTests.ProduceAsync(cluster, 0, 400, keys: 20);
        var victim = cluster.Silos[1];
        var started = DateTime.UtcNow;
        await cluster.KillSiloAsync(victim);
        await Clusters.Eventually(() => Task.FromResult(IsBalanced(cluster)), TimeSpan.FromSeconds(20), "the survivors read every queue");
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), "taken over long before the 60 s lease expired");
        Assert.All(await LeasesAsync(cluster), l => Assert.NotEqual(victim.Address.ToString(), l.Owner));

        await StreamTests.ProduceAsync(cluster, 400, 400, keys: 20);
        await Clusters.Eventually(async () => await StreamTests.TotalAsync(cluster, 20) == 800, TimeSpan.FromSeconds(30), "every event counted once");
        await Task.Delay(500);
        Assert.Equal(800, await StreamTests.TotalAsync(cluster, 20));
    }

    [Fact]
    public async Task A_gracefully_stopped_silo_checkpoints_and_releases_its_leases_for_the_others()
    {
        await using var cluster = await StartAsync(silos: 2);
        await Clusters.Eventually(() => Task.FromResult(IsBalanced(cluster)), because: "the queues are spread");
        await StreamTests.ProduceAsync(cluster, 0, 1000, keys: 10);
        await Clusters.Eventually(async () => await StreamTests.TotalAsync(cluster, 10) == 1000, because: "everything is delivered");

        var leaving = cluster.Silos[0];
        var leavingOwner = leaving.Address.ToString();
        var held = (await LeasesAsync(cluster)).Where(l => l.Owner == leavingOwner).ToList();
        Assert.NotEmpty(held);
        await cluster.StopSiloAsync(leaving);

        // Released at once, with checkpoints (the silo flushed before it let go; a queue that got no
        // records has nothing to checkpoint).
        var after = (await LeasesAsync(cluster)).Where(l => held.Any(h => h.Queue == l.Queue)).ToList();
        Assert.All(after, l => Assert.NotEqual(leavingOwner, l.Owner));
        Assert.Contains(after, l => l.Checkpoint is not null);

        await Clusters.Eventually(() => Task.FromResult(IsBalanced(cluster)), because: "the survivor reads every queue");
        // The leases can move before the survivor's view drops the stopped silo; until it does, it
        // would still route some grains to it.
        await cluster.WaitForLivenessToStabilizeAsync();
        await StreamTests.ProduceAsync(cluster, 1000, 1000, keys: 10);
        await Clusters.Eventually(async () => await StreamTests.TotalAsync(cluster, 10) >= 2000, because: "new events are delivered");
        await Task.Delay(300);
        Assert.Equal(2000, await StreamTests.TotalAsync(cluster, 10));
    }

    [Fact]
    public async Task A_silo_whose_lease_is_taken_stops_reading_and_cannot_move_the_checkpoint()
    {
        var table = new MemoryQueueLeaseTable();
        var queue = new QueueId("numbers", "q");
        await table.CreateIfMissingAsync(new QueueInfo(queue, []), CancellationToken.None);
        var first = await table.TryAcquireAsync((await table.ListAsync("numbers", CancellationToken.None))[0], "silo-a", CancellationToken.None);
        Assert.NotNull(first);
        var checkpointer = new LeaseCheckpointer(table, first);
        await checkpointer.SaveAsync(queue, new StreamSequenceToken(5), CancellationToken.None);

        // silo-b saw the lease unchanged for the lease duration and took it.
        var observed = (await table.ListAsync("numbers", CancellationToken.None))[0];
        Assert.NotNull(await table.TryAcquireAsync(observed, "silo-b", CancellationToken.None));

        await Assert.ThrowsAsync<QueueLeaseLostException>(() => checkpointer.SaveAsync(queue, new StreamSequenceToken(9), CancellationToken.None));
        Assert.Null(await table.TryRenewAsync(first, CancellationToken.None));
        Assert.Equal("5", (await table.ListAsync("numbers", CancellationToken.None))[0].Checkpoint);
    }
}
