using Analytics.Runtime.Membership;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Runtime.Tests;

public sealed class ClusterTests
{
    [Fact]
    public async Task Grains_on_a_killed_silo_move_to_the_survivors_and_reload_their_state()
    {
        var ledger = new ActivationLedger();
        await using var cluster = await Clusters.StartAsync(silos: 3, ledger: ledger);
        var grains = Enumerable.Range(0, 30).Select(i => cluster.GrainFactory.GetGrain<ICounterGrain>($"move-{i}")).ToList();
        foreach (var grain in grains)
        {
            await grain.Add(7);
        }

        var victim = cluster.Silos[1];
        var victimAddress = victim.Address.ToString();
        var onVictim = new List<ICounterGrain>();
        foreach (var grain in grains)
        {
            if (await grain.WhereAmI() == victimAddress)
            {
                onVictim.Add(grain);
            }
        }

        Assert.NotEmpty(onVictim);
        await cluster.KillSiloAsync(victim);

        // Until the others notice, calls to the dead silo fail fast rather than hang.
        var started = DateTime.UtcNow;
        await Assert.ThrowsAsync<SiloUnavailableException>(() => onVictim[0].Get());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(1));

        await cluster.WaitForLivenessToStabilizeAsync();
        foreach (var grain in onVictim)
        {
            Assert.NotEqual(victimAddress, await grain.WhereAmI());
            Assert.Equal(7, await grain.Get());
            Assert.Equal(14, await grain.Add(7));
        }
    }

    [Fact]
    public async Task A_killed_silo_is_declared_dead_and_a_new_silo_joins_the_view()
    {
        await using var cluster = await Clusters.StartAsync(silos: 2);
        var victim = cluster.Silos[0];
        await cluster.KillSiloAsync(victim);
        var survivor = cluster.Silos[0];
        await Clusters.Eventually(
            () => Task.FromResult(survivor.Services.GetRequiredService<IMembershipViewProvider>().Current.GetStatus(victim.Address) == SiloStatus.Dead),
            TimeSpan.FromSeconds(10),
            "the killed silo is declared dead");

        var joined = await cluster.StartAdditionalSiloAsync();
        await cluster.WaitForLivenessToStabilizeAsync();
        var view = joined.Services.GetRequiredService<IMembershipViewProvider>().Current;
        Assert.Equal(2, view.ActiveSilos.Length);
        Assert.Contains(joined.Address, view.ActiveSilos);
        Assert.DoesNotContain(victim.Address, view.ActiveSilos);
    }

    [Fact]
    public async Task A_gracefully_stopped_silo_leaves_the_table_as_dead_and_its_grains_keep_their_state()
    {
        await using var cluster = await Clusters.StartAsync(silos: 2);
        var grains = Enumerable.Range(0, 10).Select(i => cluster.GrainFactory.GetGrain<ICounterGrain>($"graceful-{i}")).ToList();
        foreach (var grain in grains)
        {
            await grain.Add(3);
        }

        var leaving = cluster.Silos[0];
        var address = leaving.Address;
        await cluster.StopSiloAsync(leaving);
        var snapshot = await cluster.Fabric.MembershipTable.ReadAllAsync(default);
        Assert.Equal(SiloStatus.Dead, snapshot.Entries.Single(e => e.Entry.Silo == address).Entry.Status);

        await cluster.WaitForLivenessToStabilizeAsync();
        foreach (var grain in grains)
        {
            Assert.Equal(3, await grain.Get());
        }
    }

    [Fact]
    public async Task When_a_silo_joins_grains_that_now_belong_to_it_move_there()
    {
        var ledger = new ActivationLedger();
        await using var cluster = await Clusters.StartAsync(silos: 1, ledger: ledger);
        var grains = Enumerable.Range(0, 40).Select(i => cluster.GrainFactory.GetGrain<ICounterGrain>($"rebalance-{i}")).ToList();
        foreach (var grain in grains)
        {
            await grain.Add(1);
        }

        var joined = await cluster.StartAdditionalSiloAsync();
        await cluster.WaitForLivenessToStabilizeAsync();
        var moved = 0;
        foreach (var grain in grains)
        {
            Assert.Equal(2, await grain.Add(1));
            if (await grain.WhereAmI() == joined.Address.ToString())
            {
                moved++;
            }
        }

        Assert.InRange(moved, 5, 35);
        Assert.Contains("PlacementChanged", ledger.DeactivationReasons);
    }
}
