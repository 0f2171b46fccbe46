using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Kinesis.Tests;

/// <summary>
/// The lease balancing of several silos over one table, pass by pass on a manual clock: one owner
/// per shard, fair shares, expiry, the dead, stealing, and parents before children.
/// </summary>
public sealed class ShardLeaseManagerTests
{
    private static readonly KinesisStreamOptions Options = new()
    {
        StreamName = "s",
        LeaseLength = TimeSpan.FromSeconds(10),
        LeaseRenewPeriod = TimeSpan.FromSeconds(2),
    };

    private readonly MemoryShardLeaseTable _table = new();
    private readonly ManualTime _time = new();
    private readonly HashSet<string> _dead = [];

    private ShardLeaseManager Silo(string owner, int activeSilos = 0) =>
        new(_table, owner, Options, _time, NullLogger.Instance, o => _dead.Contains(o)) { ActiveSilos = activeSilos };

    private static List<ShardInfo> Shards(int count) => [.. Enumerable.Range(0, count).Select(i => new ShardInfo($"shard-{i}", []))];

    /// <summary>Every silo passes once, in order, the clock moving a renew period per round.</summary>
    private async Task RoundAsync(IReadOnlyList<ShardInfo> listed, params ShardLeaseManager[] silos)
    {
        foreach (var silo in silos)
        {
            await silo.BalanceAsync(listed, CancellationToken.None);
        }

        _time.Advance(Options.LeaseRenewPeriod);
    }

    private async Task AssertOneOwnerEachAsync(int shards, params ShardLeaseManager[] silos)
    {
        var held = silos.SelectMany(s => s.HeldShards).ToList();
        Assert.Equal(held.Count, held.Distinct().Count());
        Assert.Equal(shards, held.Count);
        foreach (var silo in silos)
        {
            Assert.All(silo.HeldShards, shard => Assert.Equal(silo.Owner, _table.ReadAsync(shard, default).Result?.Owner));
        }

        await Task.CompletedTask;
    }

    [Fact]
    public async Task Silos_that_know_each_other_split_the_shards_evenly_in_one_round()
    {
        var listed = Shards(8);
        ShardLeaseManager[] silos = [Silo("a", 3), Silo("b", 3), Silo("c", 3)];

        await RoundAsync(listed, silos);

        await AssertOneOwnerEachAsync(8, silos);
        Assert.Equal([3, 3, 2], silos.Select(s => s.HeldShards.Count));
    }

    [Fact]
    public async Task A_silo_that_joins_later_steals_one_lease_a_pass_until_the_load_is_even()
    {
        var listed = Shards(8);
        var a = Silo("a");
        await RoundAsync(listed, a);
        Assert.Equal(8, a.HeldShards.Count);

        var b = Silo("b");
        var counts = new List<int>();
        for (var round = 0; round < 6; round++)
        {
            // The thief first: the victim's own pass then finds the lease gone and drops it.
            await RoundAsync(listed, b, a);
            counts.Add(b.HeldShards.Count);
            await AssertOneOwnerEachAsync(8, a, b);
        }

        // One at a time, and never back and forth once even.
        Assert.Equal([1, 2, 3, 4, 4, 4], counts);
        Assert.Equal(4, a.HeldShards.Count);
    }

    [Fact]
    public async Task A_silo_that_stopped_renewing_loses_its_leases_once_they_expire_and_cannot_checkpoint_them()
    {
        var listed = Shards(4);
        ShardLeaseManager[] silos = [Silo("a", 2), Silo("b", 2)];
        await RoundAsync(listed, silos);
        var (a, b) = (silos[0], silos[1]);
        var aShards = a.HeldShards;
        Assert.True(await a.CheckpointAsync(aShards[0], new QueuePosition(5), default));

        // a hangs; b keeps passing. Not before a lease length without a change does b take them.
        for (var elapsed = TimeSpan.Zero; elapsed < Options.LeaseLength - Options.LeaseRenewPeriod; elapsed += Options.LeaseRenewPeriod)
        {
            await RoundAsync(listed, b);
            Assert.Equal(2, b.HeldShards.Count);
        }

        await RoundAsync(listed, b);
        await RoundAsync(listed, b);
        Assert.Equal(4, b.HeldShards.Count);

        // a comes back: it cannot move the checkpoint of a shard it lost, and its next pass drops the rest.
        Assert.False(await a.CheckpointAsync(aShards[0], new QueuePosition(9), default));
        Assert.Equal("5", (await _table.ReadAsync(aShards[0], default))!.Checkpoint);
        await a.BalanceAsync(listed, default);
        // Its pass dropped both lost leases; live again, it took one back from b, which holds two more.
        var retaken = Assert.Single(a.HeldShards);
        Assert.Equal("a", (await _table.ReadAsync(retaken, default))!.Owner);

        // b's next pass lets that one go.
        await b.BalanceAsync(listed, default);
        await AssertOneOwnerEachAsync(4, a, b);
        Assert.Equal([1, 3], new[] { a, b }.Select(s => s.HeldShards.Count));
    }

    [Fact]
    public async Task A_dead_silos_leases_are_taken_at_once_without_waiting_for_expiry()
    {
        var listed = Shards(6);
        ShardLeaseManager[] silos = [Silo("a", 3), Silo("b", 3), Silo("c", 3)];
        await RoundAsync(listed, silos);

        _dead.Add("b");
        silos[0].ActiveSilos = silos[2].ActiveSilos = 2;
        await silos[0].BalanceAsync(listed, default);
        await silos[2].BalanceAsync(listed, default);

        await AssertOneOwnerEachAsync(6, silos[0], silos[2]);
        Assert.Equal([3, 3], new[] { silos[0], silos[2] }.Select(s => s.HeldShards.Count));
    }

    [Fact]
    public async Task A_released_lease_is_taken_by_another_silo_at_once_with_its_checkpoint()
    {
        var listed = Shards(2);
        ShardLeaseManager[] silos = [Silo("a", 2), Silo("b", 2)];
        await RoundAsync(listed, silos);
        var aShard = Assert.Single(silos[0].HeldShards);
        Assert.True(await silos[0].CheckpointAsync(aShard, new QueuePosition("123", 65536), default));

        await silos[0].ReleaseAllAsync(default);
        silos[1].ActiveSilos = 1;
        await silos[1].BalanceAsync(listed, default);

        Assert.Empty(silos[0].HeldShards);
        Assert.Equal(2, silos[1].HeldShards.Count);
        Assert.Equal(new QueuePosition("123", 65536), (await _table.ReadAsync(aShard, default))!.Position);
    }

    [Fact]
    public async Task Children_are_leased_only_after_every_parent_ended()
    {
        // p splits into c1 and c2, which merge into m; q is an unrelated shard, t a child of a trimmed shard.
        List<ShardInfo> listed =
        [
            new("p", []), new("c1", ["p"]), new("c2", ["p"]), new("m", ["c1", "c2"]), new("q", []), new("t", ["gone"]),
        ];
        ShardLeaseManager[] silos = [Silo("a", 2), Silo("b", 2)];
        string[] Held() => [.. silos.SelectMany(s => s.HeldShards).Order()];
        ShardLeaseManager Owner(string shard) => silos.Single(s => s.HeldShards.Contains(shard));

        await RoundAsync(listed, silos);
        Assert.Equal(["p", "q", "t"], Held());

        Assert.True(await Owner("p").EndAsync("p", default));
        Assert.True((await _table.ReadAsync("p", default))!.IsEnded);
        Assert.Null((await _table.ReadAsync("p", default))!.Owner);
        await RoundAsync(listed, silos);
        Assert.Equal(["c1", "c2", "q", "t"], Held());

        Assert.True(await Owner("c1").EndAsync("c1", default));
        await RoundAsync(listed, silos);
        Assert.Equal(["c2", "q", "t"], Held());

        Assert.True(await Owner("c2").EndAsync("c2", default));
        await RoundAsync(listed, silos);
        Assert.Equal(["m", "q", "t"], Held());

        // Once the stream no longer lists an ended shard (trimmed), its lease is deleted.
        await RoundAsync([.. listed.Where(s => s.Shard != "p")], silos);
        Assert.Null(await _table.ReadAsync("p", default));
        Assert.Equal(["m", "q", "t"], Held());
    }

    [Fact]
    public async Task Under_random_pauses_and_kills_no_shard_ever_has_two_holders_after_their_passes()
    {
        var listed = Shards(12);
        var random = new Random(42);
        var silos = new List<ShardLeaseManager> { Silo("s0"), Silo("s1"), Silo("s2") };
        var next = 3;
        for (var round = 0; round < 200; round++)
        {
            foreach (var silo in silos.Where(_ => random.Next(4) != 0))
            {
                await silo.BalanceAsync(round % 5 == 0 ? listed : null, default);

                // Right after its pass, what a silo believes it holds the table says it owns (a pass
                // drops whatever was taken from it); others may take leases from it only later.
                var leases = await _table.ListAsync(default);
                Assert.All(silo.HeldShards, shard => Assert.Equal(silo.Owner, leases.Single(l => l.Shard == shard).Owner));
            }

            if (round % 40 == 39)
            {
                // Kill one (its leases expire or it is declared dead) and start another.
                var victim = silos[random.Next(silos.Count)];
                silos.Remove(victim);
                if (random.Next(2) == 0)
                {
                    _dead.Add(victim.Owner);
                }

                silos.Add(Silo($"s{next++}"));
            }

            _time.Advance(TimeSpan.FromMilliseconds(random.Next(0, 3000)));
        }

        foreach (var _ in Enumerable.Range(0, 10))
        {
            await RoundAsync(listed, [.. silos]);
        }

        await AssertOneOwnerEachAsync(12, [.. silos]);
        Assert.InRange(silos.Max(s => s.HeldShards.Count) - silos.Min(s => s.HeldShards.Count), 0, 1);
    }
}
