using System.Diagnostics;
using Analytics.Aws.Kinesis;
using Xunit.Abstractions;
using static Analytics.Kinesis.Tests.KinesisTestStreams;

namespace Analytics.Kinesis.Tests;

/// <summary>Silos reading a Kinesis stream while one crashes and while the stream reshards: every record counted once, in order per key.</summary>
[Collection(EmulatorCollection.Name)]
public sealed class KinesisClusterTests(EmulatorHost emulators, ITestOutputHelper output) : IDisposable
{
    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task A_crashed_silos_shards_are_taken_over_and_every_record_is_counted_exactly_once()
    {
        const int Shards = 6, Keys = 30;
        var stream = await CreateAsync(_client, "cluster-kill", Shards);
        // The production lease length and renew period (10 s, 3.3 s): the takeover time is the real one.
        await using var cluster = await KinesisCluster.StartAsync(emulators, _client, stream, silos: 3, _ => { });
        await cluster.Log.DumpOnFailureAsync(output, async () =>
        {
            var silos = cluster.Cluster.Silos.ToList();
            await KinesisCluster.EventuallyAsync(() => cluster.BalancedOverAsync(silos, Shards), TimeSpan.FromSeconds(30), "the three silos share the shards evenly");

            await cluster.AppendAsync(0, 1500, Keys);
            await KinesisCluster.EventuallyAsync(async () => (await cluster.ReportsAsync(Keys)).Sum(r => r.Count) >= 500, TimeSpan.FromSeconds(30), "delivery is under way");

            var leases = await cluster.Leases.ListAsync(CancellationToken.None);
            var victim = silos.First(s => leases.Any(l => l.Owner == KinesisCluster.Owner(s)));
            var survivors = silos.Where(s => s != victim).ToList();
            var clock = Stopwatch.StartNew();
            cluster.Log.Mark($"crashing {victim.Name}");
            await cluster.CrashAsync(victim);
            var writing = cluster.AppendAsync(1500, 1500, Keys);
            await KinesisCluster.EventuallyAsync(() => cluster.AllOwnedByAsync(survivors, Shards), TimeSpan.FromSeconds(40), "the survivors hold every shard");
            cluster.Log.Mark("the survivors hold every shard");
            var takeover = clock.Elapsed;
            await writing;
            await KinesisCluster.EventuallyAsync(async () => (await cluster.ReportsAsync(Keys)).Sum(r => r.Count) >= 3000, TimeSpan.FromSeconds(60), "every record is delivered");
            var delivered = clock.Elapsed;
            output.WriteLine($"kill to all {Shards} shards owned again: {takeover.TotalSeconds:0.0} s; kill to all 3000 records counted: {delivered.TotalSeconds:0.0} s");

            await Task.Delay(500);
            var reports = await cluster.ReportsAsync(Keys);
            Assert.All(reports, r => Assert.Equal(new TallyReport(3000 / Keys, 0, 0), r));
            Assert.True(takeover < TimeSpan.FromSeconds(20), $"taken over in {takeover.TotalSeconds:0.0} s");
            await KinesisCluster.EventuallyAsync(() => cluster.BalancedOverAsync(survivors, Shards), TimeSpan.FromSeconds(10), "the survivors share the shards evenly");
        });
    }

    [Fact]
    public async Task A_live_split_and_merge_lose_nothing_count_nothing_twice_and_keep_each_keys_order()
    {
        const int Keys = 40;
        var stream = await CreateAsync(_client, "cluster-reshard", shards: 2);
        await using var cluster = await KinesisCluster.StartAsync(emulators, _client, stream, silos: 2, o =>
        {
            o.LeaseLength = TimeSpan.FromSeconds(4);
            o.LeaseRenewPeriod = TimeSpan.FromSeconds(1);
            o.ShardRefreshInterval = TimeSpan.FromSeconds(1);
        });
        await cluster.Log.DumpOnFailureAsync(output, async () =>
        {

            await cluster.AppendAsync(0, 1000, Keys);
            var first = (await _client.ListAllShardsAsync(stream))[0];
            await _client.SplitShardAsync(stream, first.ShardId, first.HashKeyRange.Midpoint());
            await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);
            await cluster.AppendAsync(1000, 1000, Keys);
            var children = (await _client.ListAllShardsAsync(stream)).Where(s => s.ParentShardId == first.ShardId).OrderBy(s => s.HashKeyRange.Start).ToList();
            await _client.MergeShardsAsync(stream, children[0].ShardId, children[1].ShardId);
            await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);
            await cluster.AppendAsync(2000, 1000, Keys);

            var clock = Stopwatch.StartNew();
            await KinesisCluster.EventuallyAsync(async () => (await cluster.ReportsAsync(Keys)).Sum(r => r.Count) >= 3000, TimeSpan.FromSeconds(60), "every record is delivered");
            await KinesisCluster.EventuallyAsync(
                async () => (await cluster.Leases.ListAsync(CancellationToken.None)).Count(l => l.IsEnded) == 3, TimeSpan.FromSeconds(30), "the three closed shards end");
            output.WriteLine($"all 3000 records counted {clock.Elapsed.TotalSeconds:0.0} s after the last write");

            await Task.Delay(500);
            var reports = await cluster.ReportsAsync(Keys);
            Assert.All(reports, r => Assert.Equal(new TallyReport(3000 / Keys, 0, 0), r));
            var final = await cluster.Leases.ListAsync(CancellationToken.None);
            Assert.Equal(new[] { first.ShardId, children[0].ShardId, children[1].ShardId }.Order(), final.Where(l => l.IsEnded).Select(l => l.Shard).Order());
            Assert.All(final.Where(l => l.IsEnded), l => Assert.Null(l.Owner));
            Assert.Equal(2, final.Count(l => !l.IsEnded && l.Owner is not null));
        });
    }

    [Fact]
    public async Task A_silo_cut_off_from_the_lease_table_stops_reading_and_its_shards_move_once_the_leases_expire()
    {
        const int Shards = 4, Keys = 20;
        var stream = await CreateAsync(_client, "cluster-cut", Shards);
        await using var cluster = await KinesisCluster.StartAsync(emulators, _client, stream, silos: 2, _ => { });
        await cluster.Log.DumpOnFailureAsync(output, async () =>
        {
            var silos = cluster.Cluster.Silos.ToList();
            await KinesisCluster.EventuallyAsync(() => cluster.BalancedOverAsync(silos, Shards), TimeSpan.FromSeconds(30), "both silos share the shards evenly");
            await cluster.AppendAsync(0, 1000, Keys);

            // The membership still sees the silo alive: only the lease length (10 s) can move its shards.
            var (cut, other) = (silos[0], silos[1]);
            var clock = Stopwatch.StartNew();
            cluster.CutLeaseTable(cut);
            await KinesisCluster.EventuallyAsync(() => cluster.AllOwnedByAsync([other], Shards), TimeSpan.FromSeconds(30), "the other silo holds every shard");
            var takeover = clock.Elapsed;
            await KinesisCluster.EventuallyAsync(() => Task.FromResult(KinesisCluster.HeldBy(cut).Count == 0), TimeSpan.FromSeconds(15), "the cut-off silo lets its shards go");
            var letGo = clock.Elapsed;
            await cluster.AppendAsync(1000, 1000, Keys);
            await KinesisCluster.EventuallyAsync(async () => (await cluster.ReportsAsync(Keys)).Sum(r => r.Count) >= 2000, TimeSpan.FromSeconds(60), "every record is delivered");
            output.WriteLine($"lease table cut to all {Shards} shards owned by the other silo: {takeover.TotalSeconds:0.0} s; the cut-off silo stopped reading after {letGo.TotalSeconds:0.0} s");

            await Task.Delay(500);
            Assert.All(await cluster.ReportsAsync(Keys), r => Assert.Equal(new TallyReport(2000 / Keys, 0, 0), r));
            // The other silo counts the lease length from when it saw the last renewal, up to a renew period before the cut.
            Assert.InRange(takeover, TimeSpan.FromSeconds(10 - (10 / 3.0)), TimeSpan.FromSeconds(20));
        });
    }

    [Fact]
    public async Task A_gracefully_stopped_silo_checkpoints_and_hands_its_shards_over_at_once()
    {
        const int Shards = 4, Keys = 20;
        var stream = await CreateAsync(_client, "cluster-stop", Shards);
        await using var cluster = await KinesisCluster.StartAsync(emulators, _client, stream, silos: 2, _ => { });
        await cluster.Log.DumpOnFailureAsync(output, async () =>
        {
            var silos = cluster.Cluster.Silos.ToList();
            await KinesisCluster.EventuallyAsync(() => cluster.BalancedOverAsync(silos, Shards), TimeSpan.FromSeconds(30), "both silos share the shards evenly");
            await cluster.AppendAsync(0, 1000, Keys);
            await KinesisCluster.EventuallyAsync(async () => (await cluster.ReportsAsync(Keys)).Sum(r => r.Count) >= 1000, TimeSpan.FromSeconds(30), "everything is delivered");

            var (leaving, staying) = (silos[1], silos[0]);
            var held = (await cluster.Leases.ListAsync(CancellationToken.None)).Where(l => l.Owner == KinesisCluster.Owner(leaving)).Select(l => l.Shard).ToList();
            Assert.NotEmpty(held);
            var clock = Stopwatch.StartNew();
            await cluster.Cluster.StopSiloAsync(leaving);
            var stopped = clock.Elapsed;

            // Released on stop, with the checkpoints of everything delivered.
            var after = (await cluster.Leases.ListAsync(CancellationToken.None)).Where(l => held.Contains(l.Shard)).ToList();
            Assert.All(after, l => Assert.NotEqual(KinesisCluster.Owner(leaving), l.Owner));
            Assert.All(after, l => Assert.NotNull(l.Checkpoint));
            await KinesisCluster.EventuallyAsync(() => cluster.AllOwnedByAsync([staying], Shards), TimeSpan.FromSeconds(15), "the other silo holds every shard");
            var takeover = clock.Elapsed;
            output.WriteLine($"graceful stop took {stopped.TotalSeconds:0.00} s; all {Shards} shards owned by the other silo {takeover.TotalSeconds:0.00} s after it began");

            await cluster.AppendAsync(1000, 1000, Keys);
            await KinesisCluster.EventuallyAsync(async () => (await cluster.ReportsAsync(Keys)).Sum(r => r.Count) >= 2000, TimeSpan.FromSeconds(30), "new records are delivered");
            await Task.Delay(500);
            Assert.All(await cluster.ReportsAsync(Keys), r => Assert.Equal(new TallyReport(2000 / Keys, 0, 0), r));
            Assert.True(takeover - stopped < TimeSpan.FromSeconds(5), "taken at the next pass, not after the lease length");
        });
    }

    [Fact]
    public async Task A_silo_that_joins_takes_its_fair_share_by_stealing_and_nothing_is_counted_twice()
    {
        const int Shards = 4, Keys = 20;
        var stream = await CreateAsync(_client, "cluster-join", Shards);
        await using var cluster = await KinesisCluster.StartAsync(emulators, _client, stream, silos: 1, o =>
        {
            o.LeaseLength = TimeSpan.FromSeconds(4);
            o.LeaseRenewPeriod = TimeSpan.FromSeconds(1);
        });
        await cluster.Log.DumpOnFailureAsync(output, async () =>
        {
            var first = cluster.Cluster.Silos[0];
            await KinesisCluster.EventuallyAsync(() => cluster.BalancedOverAsync([first], Shards), TimeSpan.FromSeconds(30), "one silo holds every shard");
            await cluster.AppendAsync(0, 1000, Keys);

            var clock = Stopwatch.StartNew();
            var joined = await cluster.Cluster.StartAdditionalSiloAsync();
            var writing = cluster.AppendAsync(1000, 1000, Keys);
            await KinesisCluster.EventuallyAsync(() => cluster.BalancedOverAsync([first, joined], Shards), TimeSpan.FromSeconds(30), "the two silos share the shards evenly");
            output.WriteLine($"a joining silo held its fair share {clock.Elapsed.TotalSeconds:0.0} s after it started");
            await writing;
            await KinesisCluster.EventuallyAsync(async () => (await cluster.ReportsAsync(Keys)).Sum(r => r.Count) >= 2000, TimeSpan.FromSeconds(30), "every record is delivered");

            await Task.Delay(500);
            Assert.All(await cluster.ReportsAsync(Keys), r => Assert.Equal(new TallyReport(2000 / Keys, 0, 0), r));
            Assert.Equal(2, KinesisCluster.HeldBy(joined).Count);
        });
    }
}
