using Analytics.Runtime.Activation;
using Analytics.Runtime.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Tests;

public sealed class LifecycleTests
{
    [Fact]
    public async Task Idle_activations_are_collected_after_the_configured_age()
    {
        var ledger = new ActivationLedger();
        await using var cluster = await Clusters.StartAsync(silos: 1, ledger: ledger, configure: s => s.Configure<GrainCollectionOptions>(o =>
        {
            o.CollectionAge = TimeSpan.FromMilliseconds(300);
            o.CollectionQuantum = TimeSpan.FromMilliseconds(100);
        }));
        var grain = cluster.GrainFactory.GetGrain<ICounterGrain>("idle");
        await grain.Add(1);
        Assert.Equal(1, cluster.Silos[0].ActivationCount);

        await Clusters.Eventually(() => Task.FromResult(ledger.Deactivations.ContainsKey("idle")), because: "the idle grain is collected");
        Assert.Contains("ActivationIdle", ledger.DeactivationReasons);
        Assert.Equal(0, cluster.Silos[0].ActivationCount);

        // The next call activates it again, from its stored state.
        Assert.Equal(2, await grain.Add(1));
        Assert.Equal(2, await grain.ActivationNumber());
    }

    [Fact]
    public async Task Busy_activations_are_not_collected()
    {
        var ledger = new ActivationLedger();
        // A generous age against the 50 ms between calls, so that a loaded machine's stalls do
        // not make the grain truly idle; the collector itself runs every 50 ms.
        await using var cluster = await Clusters.StartAsync(silos: 1, ledger: ledger, configure: s => s.Configure<GrainCollectionOptions>(o =>
        {
            o.CollectionAge = TimeSpan.FromSeconds(2);
            o.CollectionQuantum = TimeSpan.FromMilliseconds(50);
        }));
        var grain = cluster.GrainFactory.GetGrain<ICounterGrain>("busy");
        var until = DateTime.UtcNow.AddSeconds(3);
        while (DateTime.UtcNow < until)
        {
            await grain.Touch();
            await Task.Delay(50);
        }

        Assert.False(ledger.Deactivations.ContainsKey("busy"));
        Assert.Equal(1, await grain.ActivationNumber());
    }

    [Fact]
    public async Task DeactivateOnIdle_drops_the_activation_after_the_call_and_the_next_call_reactivates_it()
    {
        var ledger = new ActivationLedger();
        await using var cluster = await Clusters.StartAsync(silos: 1, ledger: ledger);
        var grain = cluster.GrainFactory.GetGrain<ICounterGrain>("bye");
        await grain.Add(10);
        await grain.Deactivate();
        Assert.Equal(10, await grain.Get());
        Assert.Equal(2, await grain.ActivationNumber());
        Assert.Contains("ApplicationRequested", ledger.DeactivationReasons);
    }

    [Fact]
    public async Task Stopping_a_silo_deactivates_its_grains_so_they_can_flush()
    {
        var ledger = new ActivationLedger();
        var cluster = await Clusters.StartAsync(silos: 1, ledger: ledger);
        await cluster.GrainFactory.GetGrain<ICounterGrain>("flush-1").Add(1);
        await cluster.GrainFactory.GetGrain<ICounterGrain>("flush-2").Add(1);
        await cluster.DisposeAsync();
        Assert.Equal(1, ledger.Deactivations["flush-1"]);
        Assert.Equal(1, ledger.Deactivations["flush-2"]);
        Assert.Equal(2, ledger.DeactivationReasons.Count(r => r == "ShuttingDown"));
    }

    [Fact]
    public async Task Invalid_options_stop_the_silo_from_starting_with_a_clear_message()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseSilo(s => s.Configure<GrainCollectionOptions>(o => o.CollectionAge = TimeSpan.Zero));
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("CollectionAge must be positive", error.Message);
    }

    [Fact]
    public void Calling_UseSilo_twice_is_refused()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseSilo();
        Assert.Throws<InvalidOperationException>(() => builder.UseSilo());
    }
}
