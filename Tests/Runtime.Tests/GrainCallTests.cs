using Analytics.Runtime.Activation;

namespace Analytics.Runtime.Tests;

public sealed class GrainCallTests : IAsyncLifetime
{
    private readonly ActivationLedger _ledger = new();
    private Testing.TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await Clusters.StartAsync(ledger: _ledger);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_grain_is_activated_on_its_first_call_and_keeps_its_state_between_calls()
    {
        var grain = _cluster.GrainFactory.GetGrain<ICounterGrain>("first-call");
        Assert.False(_ledger.Activations.ContainsKey("first-call"));

        Assert.Equal(5, await grain.Add(5));
        Assert.Equal(12, await grain.Add(7));

        Assert.Equal(1, _ledger.Activations["first-call"]);
        Assert.Equal(12, await grain.Get());
    }

    [Fact]
    public async Task References_are_values_equal_by_grain_id_and_can_be_cast_between_interfaces()
    {
        var a = _cluster.GrainFactory.GetGrain<ICounterGrain>("ref");
        var b = _cluster.GrainFactory.GetGrain<ICounterGrain>("ref");
        Assert.Equal(a, b);
        Assert.NotEqual(a, _cluster.GrainFactory.GetGrain<ICounterGrain>("other"));

        await a.Add(3);
        var reporting = ((Invocation.GrainReference)(object)a).Cast<IReportingGrain>();
        Assert.Equal(4, await reporting.Add(1));
        Assert.Equal("counter/ref", ((Invocation.GrainReference)(object)a).GrainId.ToString());
    }

    [Fact]
    public async Task ValueTask_methods_work_through_the_generated_proxy()
    {
        var grain = _cluster.GrainFactory.GetGrain<ICounterGrain>("valuetask");
        Assert.Equal("hello", await grain.Echo("hello"));
        await grain.Touch();
    }

    [Fact]
    public async Task An_exception_reaches_the_caller_with_its_type_and_message_and_the_activation_survives()
    {
        var grain = _cluster.GrainFactory.GetGrain<ICounterGrain>("throws");
        await grain.Add(2);
        var error = await Assert.ThrowsAsync<ArgumentException>(() => grain.Fail("bad amount"));
        Assert.Equal("bad amount", error.Message);

        Assert.Equal(2, await grain.Get());
        Assert.Equal(1, _ledger.Activations["throws"]);
    }

    [Fact]
    public async Task A_failing_activation_is_reported_to_the_caller()
    {
        var grain = _cluster.GrainFactory.GetGrain<IFailingActivationGrain>("x");
        var error = await Assert.ThrowsAsync<GrainActivationException>(() => grain.Get());
        Assert.Contains("activation refused", error.Message);
        Assert.Contains("failingactivation/x", error.Message);
    }

    [Fact]
    public async Task Each_grain_has_one_activation_in_the_cluster_whichever_silo_the_call_enters()
    {
        var grain = _cluster.GrainFactory.GetGrain<ICounterGrain>("single");
        var places = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => grain.WhereAmI()));
        Assert.Single(places.Distinct());
        Assert.Equal(1, _ledger.Activations["single"]);
    }

    [Fact]
    public async Task Grains_spread_over_the_silos()
    {
        var places = new List<string>();
        for (var i = 0; i < 100; i++)
        {
            places.Add(await _cluster.GrainFactory.GetGrain<ICounterGrain>($"spread-{i}").WhereAmI());
        }

        var perSilo = places.GroupBy(p => p).Select(g => g.Count()).ToList();
        Assert.Equal(2, perSilo.Count);
        Assert.All(perSilo, count => Assert.InRange(count, 25, 75));
    }

    [Fact]
    public async Task A_call_to_a_grain_type_nobody_implements_fails_clearly()
    {
        var grain = _cluster.GrainFactory.GetGrain<IUnimplementedGrain>("nobody");
        var error = await Assert.ThrowsAsync<GrainTypeNotFoundException>(() => grain.Ping());
        Assert.Contains("'unimplemented'", error.Message);
    }
}

public interface IUnimplementedGrain : IGrainWithStringKey
{
    Task Ping();
}
