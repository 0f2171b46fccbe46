using Analytics.Runtime.Invocation;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Activation;

/// <summary>
/// One activation of a grain: the grain instance, its work queue and its request gate.
///
/// The activation is its own SynchronizationContext. Every piece of grain code (a request, the
/// continuation after an await, a timer tick) runs as a work item of that context, and the context
/// runs at most one work item at a time, on the thread pool. That is what makes a turn: grain code
/// needs no locks. On top of turns, the request gate decides when a whole request may start: a
/// non-reentrant grain runs one request from start to finish before the next.
///
/// When the activation is idle, a call runs inline on the caller's thread (the context is entered
/// with a compare-and-swap), so a call that completes synchronously costs no thread hop.
/// </summary>
internal sealed partial class ActivationData : SynchronizationContext, IThreadPoolWorkItem
{
    [ThreadStatic]
    private static ActivationData? t_constructing;

    private static readonly SendOrPostCallback RequestArrivedCallback = static s => ((PendingRequest)s!).Activation.OnRequestArrived((PendingRequest)s);

    private readonly Catalog _catalog;
    private readonly GrainClassInfo _class;
    private readonly object _workLock = new();
    private Queue<(SendOrPostCallback Callback, object? State)>? _work;
    private int _scheduled;

    // The fields below are touched only inside turns.
    private Queue<PendingRequest>? _waiting;
    private int _running;
    private int _runningReadOnly;
    private bool _deactivationRequested;
    private DeactivationReason _deactivationReason;
    private List<GrainTimer>? _timers;
    private long _keepAliveUntil;
    private Exception? _activationError;

    public ActivationData(GrainId grainId, GrainClassInfo grainClass, Catalog catalog)
    {
        GrainId = grainId;
        _class = grainClass;
        _catalog = catalog;
        LastActivity = catalog.TimeProvider.GetTimestamp();
    }

    internal static ActivationData? Constructing => t_constructing;

    public GrainId GrainId { get; }

    public ActivationState State { get; private set; }

    public object? GrainInstance { get; private set; }

    public IServiceProvider Services => _catalog.Services;

    internal GrainClassInfo GrainClass => _class;

    /// <summary>Timestamp (TimeProvider ticks) of the last request that started; read by the collector.</summary>
    public long LastActivity { get; private set; }

    public bool IsBusy => _running > 0 || Volatile.Read(ref _scheduled) != 0;

    internal List<IActivationLifecycleParticipant> LifecycleParticipants { get; } = [];

    /// <summary>Entry point for every call to this activation. Returns Task or Task&lt;T&gt; as the method does.</summary>
    public Task Invoke(GrainInvokable request)
    {
        if (_catalog.IsKilled)
        {
            return Task.FromException(new SiloUnavailableException($"The silo hosting grain {GrainId} is dead."));
        }

        if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
        {
            return InvokeInline(request);
        }

        var pending = new PendingRequest(this, request, request.CreateCompletion());
        Post(RequestArrivedCallback, pending);
        return pending.Completion!.Task;
    }

    private Task InvokeInline(GrainInvokable request)
    {
        var previous = Current;
        SetSynchronizationContext(this);
        try
        {
            if (State == ActivationState.Valid && !_deactivationRequested && (_waiting is null || _waiting.Count == 0) && CanStart(request.Method))
            {
                var pending = new PendingRequest(this, request, completion: null);
                var task = StartRequest(pending);
                if (task.IsCompleted)
                {
                    if (_deactivationRequested)
                    {
                        Pump();
                    }

                    return task;
                }

                // The caller must not resume inside this activation's context, so it waits on a
                // completion of its own rather than on the grain's task.
                pending.Completion = request.CreateCompletion();
                return pending.Completion.Task;
            }

            var queued = new PendingRequest(this, request, request.CreateCompletion());
            OnRequestArrived(queued);
            return queued.Completion!.Task;
        }
        finally
        {
            SetSynchronizationContext(previous);
            ExitScheduler();
        }
    }

    private void OnRequestArrived(PendingRequest pending)
    {
        if (_activationError is not null)
        {
            pending.Completion?.SetException(_activationError);
            return;
        }

        if (State == ActivationState.Invalid)
        {
            _catalog.Reroute(pending);
            return;
        }

        (_waiting ??= new Queue<PendingRequest>()).Enqueue(pending);
        Pump();
    }

    private bool CanStart(GrainMethodDescriptor method) =>
        _running == 0 || _class.IsReentrant || method.AlwaysInterleave || (method.ReadOnly && _running == _runningReadOnly);

    /// <summary>Starts waiting requests that the gate allows, and deactivates when asked and idle.</summary>
    private void Pump()
    {
        while (_waiting is { Count: > 0 })
        {
            if (State == ActivationState.Invalid)
            {
                while (_waiting.TryDequeue(out var orphan))
                {
                    _catalog.Reroute(orphan);
                }

                return;
            }

            if (State != ActivationState.Valid || _deactivationRequested || !CanStart(_waiting.Peek().Request.Method))
            {
                break;
            }

            var pending = _waiting.Dequeue();
            var task = StartRequest(pending);
            if (task.IsCompleted)
            {
                pending.Completion!.SetFrom(task);
            }
        }

        if (_deactivationRequested && _running == 0 && State == ActivationState.Valid)
        {
            StartDeactivation();
        }
    }

    /// <summary>Runs the method up to its first incomplete await. Returns the method's task.</summary>
    private Task StartRequest(PendingRequest pending)
    {
        var method = pending.Request.Method;
        var counted = !method.AlwaysInterleave;
        if (counted)
        {
            _running++;
            if (method.ReadOnly)
            {
                _runningReadOnly++;
            }
        }

        if (!pending.IsTimerTick)
        {
            LastActivity = _catalog.TimeProvider.GetTimestamp();
        }

        Task task;
        try
        {
            task = pending.Request.Invoke(GrainInstance!);
        }
        catch (Exception exception)
        {
            task = Task.FromException(exception);
        }

        if (task.IsCompleted)
        {
            EndRequest(method, counted, task);
        }
        else
        {
            pending.Task = task;
            pending.Counted = counted;
            task.ConfigureAwait(true).GetAwaiter().UnsafeOnCompleted(pending.OnCompleted);
        }

        return task;
    }

    /// <summary>Called in this context when an asynchronous request finishes.</summary>
    internal void OnRequestCompleted(PendingRequest pending)
    {
        var task = pending.Task!;
        EndRequest(pending.Request.Method, pending.Counted, task);
        pending.Completion?.SetFrom(task);
        Pump();
    }

    private void EndRequest(GrainMethodDescriptor method, bool counted, Task task)
    {
        if (counted)
        {
            _running--;
            if (method.ReadOnly)
            {
                _runningReadOnly--;
            }
        }

        if (task.IsFaulted && task.Exception!.InnerException is Persistence.InconsistentStateException)
        {
            // Another activation of this grain wrote the state since we read it (a membership
            // change placed the grain twice). This one is stale: drop it so the next call reloads.
            RequestDeactivation(new DeactivationReason(DeactivationReasonCode.StaleState, "a state write was rejected because of a stale ETag"));
        }
    }

    public override void Post(SendOrPostCallback d, object? state)
    {
        lock (_workLock)
        {
            (_work ??= new Queue<(SendOrPostCallback, object?)>()).Enqueue((d, state));
        }

        if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("Grain code cannot block on another turn of its own activation.");

    public override SynchronizationContext CreateCopy() => this;

    void IThreadPoolWorkItem.Execute()
    {
        var previous = Current;
        SetSynchronizationContext(this);
        try
        {
            // A bounded batch, so that one busy activation cannot hold a pool thread forever.
            for (var i = 0; i < 128 && !_catalog.IsKilled; i++)
            {
                (SendOrPostCallback Callback, object? State) item;
                lock (_workLock)
                {
                    if (_work is null || !_work.TryDequeue(out item))
                    {
                        break;
                    }
                }

                try
                {
                    item.Callback(item.State);
                }
                catch (Exception exception)
                {
                    _catalog.Log.UnhandledTurnException(exception, GrainId);
                }
            }
        }
        finally
        {
            SetSynchronizationContext(previous);
            ExitScheduler();
        }
    }

    private void ExitScheduler()
    {
        Volatile.Write(ref _scheduled, 0);
        bool hasWork;
        lock (_workLock)
        {
            hasWork = _work is { Count: > 0 };
        }

        if (hasWork && Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    public override string ToString() => $"[Activation {GrainId} {State}]";

    /// <summary>Used by the activator while it runs the grain's constructor.</summary>
    internal static object Construct(ActivationData activation, Func<object> factory)
    {
        t_constructing = activation;
        try
        {
            return factory();
        }
        finally
        {
            t_constructing = null;
        }
    }
}

public enum ActivationState
{
    Creating,
    Activating,
    Valid,
    Deactivating,
    Invalid,
}

/// <summary>Persistent state and similar per-activation components that load before OnActivateAsync.</summary>
internal interface IActivationLifecycleParticipant
{
    Task OnActivateAsync(CancellationToken cancellationToken);
}

/// <summary>A request waiting for, or running in, an activation.</summary>
internal sealed class PendingRequest(ActivationData activation, GrainInvokable request, IResponseCompletion? completion)
{
    private Action? _onCompleted;

    public ActivationData Activation { get; } = activation;

    public GrainInvokable Request { get; } = request;

    public IResponseCompletion? Completion { get; set; } = completion;

    public Task? Task { get; set; }

    public bool Counted { get; set; }

    public bool IsTimerTick => Request is GrainTimer.TickInvokable;

    public Action OnCompleted => _onCompleted ??= () => Activation.OnRequestCompleted(this);
}
