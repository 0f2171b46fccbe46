using Orleans.Placement;

namespace Analytics.Bench;

// ---- Local calls -------------------------------------------------------------------------------

/// <summary>The grain side of the call benchmarks.</summary>
public interface ICallGrain : IGrainWithStringKey
{
    Task<int> Add(int amount);

    /// <summary>The same body after an await that really yields: the request's turn ends and resumes later.</summary>
    Task<int> AddAfterYield(int amount);
}

/// <summary>A grain whose method body is exactly <see cref="PlainCallTarget.Add"/>'s.</summary>
public sealed class CallGrain : Grain, ICallGrain
{
    private int _total;

    public Task<int> Add(int amount)
    {
        _total += amount;
        return Task.FromResult(_total);
    }

    public async Task<int> AddAfterYield(int amount)
    {
        await Task.Yield();
        _total += amount;
        return _total;
    }
}

/// <summary>
/// Calls made from inside a grain, as grains call each other in the service (source grains to
/// metric grains): a caller grain awaits its target's <see cref="ICallGrain.Add"/> in a loop.
/// </summary>
public interface ICallerGrain : IGrainWithStringKey
{
    Task<int> CallLoop(string target, int calls);
}

public sealed class CallerGrain : Grain, ICallerGrain
{
    public async Task<int> CallLoop(string target, int calls)
    {
        var grain = GrainFactory.GetGrain<ICallGrain>(target);
        var last = 0;
        for (var i = 0; i < calls; i++)
        {
            last = await grain.Add(1);
        }

        return last;
    }
}

/// <summary>The baseline: the same method bodies on a plain object, awaited directly.</summary>
public sealed class PlainCallTarget
{
    private int _total;

    public Task<int> Add(int amount)
    {
        _total += amount;
        return Task.FromResult(_total);
    }

    public async Task<int> AddAfterYield(int amount)
    {
        await Task.Yield();
        _total += amount;
        return _total;
    }
}

/// <summary>
/// A shared plain object guarded by a lock: what the shared-grain case gives for free (one
/// request at a time), done by hand. Only used as a second baseline for the shared-target runs.
/// </summary>
public sealed class LockedCallTarget
{
    private readonly Lock _lock = new();
    private int _total;

    public Task<int> Add(int amount)
    {
        lock (_lock)
        {
            _total += amount;
            return Task.FromResult(_total);
        }
    }
}

// ---- Cross-silo calls --------------------------------------------------------------------------

/// <summary>The grain side of the network benchmark: a small payload in, the same payload back.</summary>
public interface IEchoGrain : IGrainWithStringKey
{
    Task<string> Echo(string payload);

    /// <summary>The address of the silo this activation runs on, to check that calls cross.</summary>
    Task<string> Silo();
}

/// <summary>
/// Placed on the silo whose code makes the first call: the benchmark activates every echo grain
/// from silo B, then calls them from silo A, so that every measured call crosses A to B.
/// </summary>
[PreferLocalPlacement]
public sealed class EchoGrain(ILocalSiloDetails silo) : Grain, IEchoGrain
{
    public Task<string> Echo(string payload) => Task.FromResult(payload);

    public Task<string> Silo() => Task.FromResult(silo.SiloAddress.ToString());
}

// ---- Activation memory -------------------------------------------------------------------------

public interface ISmallGrain : IGrainWithStringKey
{
    Task<int> Touch();
}

/// <summary>A small grain with no persistent state: one int field.</summary>
public sealed class SmallGrain : Grain, ISmallGrain
{
    private int _touches;

    public Task<int> Touch() => Task.FromResult(++_touches);
}

/// <summary>The baseline object: the same fields as <see cref="SmallGrain"/>.</summary>
public sealed class SmallPlain
{
    private int _touches;

    public int Touch() => ++_touches;
}
