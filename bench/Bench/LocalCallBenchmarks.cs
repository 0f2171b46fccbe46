using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Hosting;

namespace Analytics.Bench;

/// <summary>
/// Latency of one local call, made from outside any grain (a request handler, say) through the
/// silo's own IGrainFactory, against a direct await of the same method on a plain object. One
/// caller, calls back to back; the grain is activated in setup. Per-op figures are per call.
/// </summary>
public class LocalCallLatency
{
    public const int CallsPerInvoke = 1_000;

    private IHost _host = null!;
    private IGrainFactory _factory = null!;
    private ICallGrain _grain = null!;
    private PlainCallTarget _plain = null!;

    [GlobalSetup]
    public void Setup()
    {
        _host = BenchSilo.StartAsync().GetAwaiter().GetResult();
        _factory = _host.GrainFactory();
        _grain = _factory.GetGrain<ICallGrain>("latency");
        _plain = new PlainCallTarget();
        _grain.Add(0).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _host.StopQuietlyAsync().GetAwaiter().GetResult();

    [Benchmark(Baseline = true, OperationsPerInvoke = CallsPerInvoke, Description = "plain object: await Add(1)")]
    public async Task<int> Plain()
    {
        var sum = 0;
        for (var i = 0; i < CallsPerInvoke; i++)
        {
            sum += await _plain.Add(1);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "grain: await Add(1)")]
    public async Task<int> Grain()
    {
        var sum = 0;
        for (var i = 0; i < CallsPerInvoke; i++)
        {
            sum += await _grain.Add(1);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "plain object: await AddAfterYield(1)")]
    public async Task<int> PlainAfterYield()
    {
        var sum = 0;
        for (var i = 0; i < CallsPerInvoke; i++)
        {
            sum += await _plain.AddAfterYield(1);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "grain: await AddAfterYield(1)")]
    public async Task<int> GrainAfterYield()
    {
        var sum = 0;
        for (var i = 0; i < CallsPerInvoke; i++)
        {
            sum += await _grain.AddAfterYield(1);
        }

        return sum;
    }

    /// <summary>The common pattern of taking a fresh reference per call: GetGrain then the call.</summary>
    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "grain: GetGrain + await Add(1)")]
    public async Task<int> GrainWithGetGrain()
    {
        var sum = 0;
        for (var i = 0; i < CallsPerInvoke; i++)
        {
            sum += await _factory.GetGrain<ICallGrain>("latency").Add(1);
        }

        return sum;
    }
}

public enum CallTargets
{
    /// <summary>Each caller calls its own grain (its own plain object).</summary>
    Distinct,

    /// <summary>Every caller calls the same grain (the same plain object).</summary>
    Shared,
}

/// <summary>
/// Throughput: <see cref="Callers"/> concurrent callers (thread-pool tasks) each await
/// <see cref="CallsPerInvoke"/>/Callers calls in a loop. Per-op figures are per call, so
/// calls/s = 1e9 / Mean(ns). The baselines run with the same concurrency: plain objects awaited
/// directly (racy when shared, as plain objects are), and plain objects behind a lock (what the
/// grain's one-request-at-a-time gate gives for free). The "body yields" pair runs the same body
/// after an <c>await Task.Yield()</c>, so every call takes the queued path: the grain's turn ends
/// at the await and its continuation is scheduled on the activation (and, shared, requests queue
/// behind the running one, as the gate requires; the racy plain baseline does not wait).
/// </summary>
public class LocalCallThroughput
{
    public const int CallsPerInvoke = 64_000;

    private IHost _host = null!;
    private ICallGrain[] _grains = null!;
    private PlainCallTarget[] _plain = null!;
    private LockedCallTarget[] _locked = null!;
    private ICallerGrain[] _callers = null!;
    private string[] _targets = null!;

    /// <summary>2 x cores on the 2-core benchmark machine, and many callers.</summary>
    [Params(4, 64)]
    public int Callers { get; set; }

    [Params(CallTargets.Distinct, CallTargets.Shared)]
    public CallTargets Targets { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _host = BenchSilo.StartAsync().GetAwaiter().GetResult();
        var factory = _host.GrainFactory();
        var distinct = Targets == CallTargets.Distinct;
        _grains = Enumerable.Range(0, Callers).Select(i => factory.GetGrain<ICallGrain>(distinct ? $"caller-{i}" : "shared")).ToArray();
        var plain = new PlainCallTarget();
        _plain = Enumerable.Range(0, Callers).Select(_ => distinct ? new PlainCallTarget() : plain).ToArray();
        var locked = new LockedCallTarget();
        _locked = Enumerable.Range(0, Callers).Select(_ => distinct ? new LockedCallTarget() : locked).ToArray();
        _targets = Enumerable.Range(0, Callers).Select(i => distinct ? $"caller-{i}" : "shared").ToArray();
        _callers = Enumerable.Range(0, Callers).Select(i => factory.GetGrain<ICallerGrain>($"caller-{i}")).ToArray();
        Task.WhenAll(_grains.Select(g => g.Add(0))).GetAwaiter().GetResult();
        Task.WhenAll(_callers.Select((c, i) => c.CallLoop(_targets[i], 1))).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _host.StopQuietlyAsync().GetAwaiter().GetResult();

    [Benchmark(Baseline = true, OperationsPerInvoke = CallsPerInvoke, Description = "plain objects")]
    public Task Plain() => Run(i => CallLoop(_plain[i], CallsPerInvoke / Callers));

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "plain objects + lock")]
    public Task PlainLocked() => Run(i => CallLoop(_locked[i], CallsPerInvoke / Callers));

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "grains")]
    public Task Grain() => Run(i => CallLoop(_grains[i], CallsPerInvoke / Callers));

    /// <summary>The same calls made by <see cref="Callers"/> caller grains (one call each into the silo, then grain to grain).</summary>
    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "grain to grain")]
    public Task GrainToGrain() => Run(i => _callers[i].CallLoop(_targets[i], CallsPerInvoke / Callers));

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "plain objects, body yields")]
    public Task PlainAfterYield() => Run(i => CallLoopAfterYield(_plain[i], CallsPerInvoke / Callers));

    [Benchmark(OperationsPerInvoke = CallsPerInvoke, Description = "grains, body yields")]
    public Task GrainAfterYield() => Run(i => CallLoopAfterYield(_grains[i], CallsPerInvoke / Callers));

    private Task Run(Func<int, Task> caller)
    {
        var tasks = new Task[Callers];
        for (var i = 0; i < tasks.Length; i++)
        {
            var index = i;
            tasks[i] = Task.Run(() => caller(index));
        }

        return Task.WhenAll(tasks);
    }

    private static async Task CallLoop(PlainCallTarget target, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            await target.Add(1);
        }
    }

    private static async Task CallLoop(LockedCallTarget target, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            await target.Add(1);
        }
    }

    private static async Task CallLoop(ICallGrain target, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            await target.Add(1);
        }
    }

    private static async Task CallLoopAfterYield(PlainCallTarget target, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            await target.AddAfterYield(1);
        }
    }

    private static async Task CallLoopAfterYield(ICallGrain target, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            await target.AddAfterYield(1);
        }
    }
}
