using Analytics.Runtime.Hosting;

namespace Analytics.Runtime.Tests;

public sealed class ConcurrencyTests : IAsyncLifetime
{
    private Testing.TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await Clusters.StartAsync(silos: 1);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_non_reentrant_grain_runs_one_request_at_a_time_even_across_awaits()
    {
        var grain = _cluster.GrainFactory.GetGrain<IConcurrencyGrain>("serial");
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => grain.Work(5)));
        Assert.Equal(1, await grain.MaxConcurrent());
        Assert.False(await grain.TurnsOverlapped());
    }

    [Fact]
    public async Task A_reentrant_grain_interleaves_requests_but_never_runs_two_turns_at_once()
    {
        var grain = _cluster.GrainFactory.GetGrain<IReentrantConcurrencyGrain>("interleaved");
        await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => grain.Work(20)));
        Assert.True(await grain.MaxConcurrent() > 1);
        Assert.False(await grain.TurnsOverlapped());
    }

    [Fact]
    public async Task Timer_ticks_run_as_turns_and_do_not_overlap_requests()
    {
        var grain = _cluster.GrainFactory.GetGrain<IConcurrencyGrain>("timer");
        await grain.StartTimer(10);
        for (var i = 0; i < 10; i++)
        {
            await grain.Work(15);
        }

        await Clusters.Eventually(async () => await grain.TimerTicks() >= 5, because: "the timer ticks");
        Assert.Equal(1, await grain.MaxConcurrent());
        Assert.False(await grain.TurnsOverlapped());
    }
}

/// <summary>Response timeouts, on a cluster with a short one (500 ms).</summary>
public sealed class TimeoutTests : IAsyncLifetime
{
    private Testing.TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await Clusters.StartAsync(
        silos: 1,
        responseTimeout: TimeSpan.FromMilliseconds(500),
        // The hung requests below never finish; shutdown should not wait the default 30 s for them.
        configure: s => s.Configure<Activation.GrainCollectionOptions>(o => o.DeactivationTimeout = TimeSpan.FromSeconds(1)));

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_call_that_does_not_answer_times_out_with_an_error_naming_the_grain_and_method()
    {
        var grain = _cluster.GrainFactory.GetGrain<IConcurrencyGrain>("hang");
        var error = await Assert.ThrowsAsync<GrainCallTimeoutException>(() => grain.Hang());
        Assert.Contains("IConcurrencyGrain.Hang", error.Message);
        Assert.Contains("concurrency/hang", error.Message);
    }

    [Fact]
    public async Task Calls_queued_behind_a_hung_request_time_out_too_instead_of_waiting_forever()
    {
        var grain = _cluster.GrainFactory.GetGrain<IConcurrencyGrain>("hang-queue");
        var hung = grain.Hang();
        var queued = grain.Work(1);
        await Assert.ThrowsAsync<GrainCallTimeoutException>(() => queued);
        await Assert.ThrowsAsync<GrainCallTimeoutException>(() => hung);
    }
}

/// <summary>On a cluster with the default response timeout, so a long request can run for seconds.</summary>
public sealed class InterleavingTests
{
    [Fact]
    public async Task An_always_interleave_method_runs_while_a_long_request_is_in_progress()
    {
        await using var cluster = await Clusters.StartAsync(silos: 1);
        var grain = cluster.GrainFactory.GetGrain<IConcurrencyGrain>("peek");
        var slow = grain.Work(2000);
        // Peek sees the request in progress only if it runs during it; a Peek that waited for
        // the slow request would see 0, and the wait would end with a failure.
        await Clusters.Eventually(async () => await grain.Peek() == 1 || slow.IsCompleted, because: "Peek ran while Work was in progress");
        Assert.False(slow.IsCompleted);
        await slow;
    }
}
