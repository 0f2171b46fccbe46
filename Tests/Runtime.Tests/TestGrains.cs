using System.Collections.Concurrent;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;

namespace Analytics.Runtime.Tests;

public interface ICounterGrain : IGrainWithStringKey
{
    Task<int> Add(int amount);

    Task<int> Get();

    Task Fail(string message);

    Task<string> WhereAmI();

    Task<int> ActivationNumber();

    Task Deactivate();

    ValueTask<string> Echo(string text);

    ValueTask Touch();
}

public interface IReportingGrain : IGrainWithStringKey
{
    Task<int> Add(int amount);
}

/// <summary>Counts activations so tests can see when a grain was re-activated.</summary>
public sealed class ActivationLedger
{
    public ConcurrentDictionary<string, int> Activations { get; } = new();

    public ConcurrentDictionary<string, int> Deactivations { get; } = new();

    public ConcurrentQueue<string> DeactivationReasons { get; } = new();
}

public sealed class CounterState
{
    public int Value { get; set; }
}

public sealed class CounterGrain(
    [PersistentState("counter", "store")] IPersistentState<CounterState> state,
    ActivationLedger ledger,
    Hosting.LocalSiloDetails silo) : Grain, ICounterGrain, IReportingGrain
{
    private int _activationNumber;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _activationNumber = ledger.Activations.AddOrUpdate(GetPrimaryKeyString(), 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        ledger.Deactivations.AddOrUpdate(GetPrimaryKeyString(), 1, (_, n) => n + 1);
        ledger.DeactivationReasons.Enqueue(reason.Code.ToString());
        return Task.CompletedTask;
    }

    public async Task<int> Add(int amount)
    {
        state.State.Value += amount;
        await state.WriteStateAsync();
        return state.State.Value;
    }

    public Task<int> Get() => Task.FromResult(state.State.Value);

    public Task Fail(string message) => throw new ArgumentException(message);

    public Task<string> WhereAmI() => Task.FromResult(silo.SiloAddress.ToString());

    public Task<int> ActivationNumber() => Task.FromResult(_activationNumber);

    public Task Deactivate()
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }

    public ValueTask<string> Echo(string text) => ValueTask.FromResult(text);

    public ValueTask Touch() => ValueTask.CompletedTask;
}

public interface IConcurrencyGrain : IGrainWithStringKey
{
    Task<int> Work(int delayMs);

    [AlwaysInterleave]
    Task<int> Peek();

    Task<int> MaxConcurrent();

    Task<bool> TurnsOverlapped();

    Task StartTimer(int periodMs);

    Task<int> TimerTicks();

    Task Hang();
}

/// <summary>Records how many requests were in progress at once, and whether two turns ever ran at the same time.</summary>
public class ConcurrencyGrainBase : Grain
{
    private int _inProgress;
    private int _maxInProgress;
    private int _inTurn;
    private bool _overlapped;
    private int _ticks;

    public async Task<int> Work(int delayMs)
    {
        Enter();
        _inProgress++;
        _maxInProgress = Math.Max(_maxInProgress, _inProgress);
        Leave();
        await Task.Delay(delayMs);
        Enter();
        Thread.SpinWait(1000);
        _inProgress--;
        Leave();
        return _maxInProgress;
    }

    public Task<int> Peek() => Task.FromResult(_inProgress);

    public Task<int> MaxConcurrent() => Task.FromResult(_maxInProgress);

    public Task<bool> TurnsOverlapped() => Task.FromResult(_overlapped);

    public Task StartTimer(int periodMs)
    {
        RegisterGrainTimer(async _ =>
        {
            Enter();
            _ticks++;
            _inProgress++;
            _maxInProgress = Math.Max(_maxInProgress, _inProgress);
            Leave();
            await Task.Delay(5);
            _inProgress--;
        }, TimeSpan.FromMilliseconds(periodMs), TimeSpan.FromMilliseconds(periodMs));
        return Task.CompletedTask;
    }

    public Task<int> TimerTicks() => Task.FromResult(_ticks);

    public Task Hang() => new TaskCompletionSource().Task;

    private void Enter()
    {
        if (Interlocked.Exchange(ref _inTurn, 1) != 0)
        {
            _overlapped = true;
        }
    }

    private void Leave() => Volatile.Write(ref _inTurn, 0);
}

public sealed class ConcurrencyGrain : ConcurrencyGrainBase, IConcurrencyGrain;

public interface IReentrantConcurrencyGrain : IConcurrencyGrain;

[Reentrant]
public sealed class ReentrantConcurrencyGrain : ConcurrencyGrainBase, IReentrantConcurrencyGrain;

public interface IFailingActivationGrain : IGrainWithStringKey
{
    Task<int> Get();
}

public sealed class FailingActivationGrain : Grain, IFailingActivationGrain
{
    public override Task OnActivateAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("activation refused");

    public Task<int> Get() => Task.FromResult(1);
}

public sealed class ConsumedEvents
{
    public ConcurrentDictionary<string, int> ByKey { get; } = new();
}

public sealed class TallyState
{
    public StreamWatermarks Watermarks { get; set; } = new();

    public Dictionary<string, int> Counts { get; set; } = [];
}

public interface ITallyGrain : IStreamConsumer
{
    Task<Dictionary<string, int>> Counts();
}

/// <summary>Consumes the "numbers" namespace: each item is a JSON string, counted per value. Persists at checkpoints only.</summary>
[ImplicitStreamSubscription("numbers")]
public sealed class TallyGrain([PersistentState("tally", "store")] IPersistentState<TallyState> state) : StreamConsumerGrain, ITallyGrain
{
    protected override StreamWatermarks Watermarks => state.State.Watermarks;

    public Task<DeliveryOutcome> OnNextAsync(StreamDelivery delivery) => Task.FromResult(ApplyOnce(delivery, d =>
    {
        foreach (var item in d.Items)
        {
            var value = System.Text.Json.JsonSerializer.Deserialize<string>(((ReadOnlyMemory<byte>)item).Span)!;
            state.State.Counts[value] = state.State.Counts.GetValueOrDefault(value) + 1;
        }
    }));

    protected override Task WriteAsync() => state.WriteStateAsync();

    public Task<Dictionary<string, int>> Counts() => Task.FromResult(new Dictionary<string, int>(state.State.Counts));
}
