using System.Collections.Concurrent;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Placement;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Activation;

/// <summary>
/// The silo's activations: finds or creates the activation for a grain, collects idle ones,
/// moves grains away when the membership view gives them to another silo, and deactivates
/// everything on shutdown so that state is flushed.
/// </summary>
internal sealed class Catalog : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly ConcurrentDictionary<GrainId, ActivationData> _activations = new();
    private readonly GrainClassRegistry _classes;
    private readonly IGrainPlacement _placement;
    private readonly IMembershipViewProvider _membership;
    private readonly LocalSiloDetails _local;
    private IDisposable? _viewSubscription;
    private ITimer? _collector;

    public Catalog(
        IServiceProvider services,
        GrainClassRegistry classes,
        IGrainPlacement placement,
        IMembershipViewProvider membership,
        LocalSiloDetails local,
        IOptions<GrainCollectionOptions> options,
        TimeProvider timeProvider,
        ILogger<Catalog> logger)
    {
        Services = services;
        _classes = classes;
        _placement = placement;
        _membership = membership;
        _local = local;
        Options = options.Value;
        TimeProvider = timeProvider;
        Log = logger;
    }

    public IServiceProvider Services { get; }

    public GrainCollectionOptions Options { get; }

    public TimeProvider TimeProvider { get; }

    public ILogger Log { get; }

    /// <summary>Set by the router; rerouted requests go back through placement.</summary>
    public Func<GrainId, GrainInvokable, Task>? Router { get; set; }

    public int ActivationCount => _activations.Count;

    /// <summary>Set when a test cluster kills the silo: activations stop running anything.</summary>
    public bool IsKilled { get; private set; }

    internal void Kill()
    {
        IsKilled = true;
        _collector?.Dispose();
        _viewSubscription?.Dispose();
        _activations.Clear();
    }

    public IEnumerable<ActivationData> Activations => _activations.Values;

    public Task InvokeLocal(GrainId grainId, GrainInvokable request)
    {
        if (_activations.TryGetValue(grainId, out var activation))
        {
            return activation.Invoke(request);
        }

        var grainClass = _classes.Find(grainId.Type);
        if (grainClass is null)
        {
            return Task.FromException(new GrainTypeNotFoundException($"No grain class is registered for grain type '{grainId.Type}' (grain {grainId}, method {request.Method})."));
        }

        var created = new ActivationData(grainId, grainClass, this);
        activation = _activations.GetOrAdd(grainId, created);
        if (ReferenceEquals(activation, created))
        {
            created.ScheduleActivation();
        }

        return activation.Invoke(request);
    }

    /// <summary>A request that reached an activation after it was deactivated: send it again.</summary>
    public void Reroute(PendingRequest pending)
    {
        var router = Router ?? ((id, request) => InvokeLocal(id, request));
        Task result;
        try
        {
            result = router(pending.Activation.GrainId, pending.Request);
        }
        catch (Exception exception)
        {
            result = Task.FromException(exception);
        }

        result.ContinueWith(static (t, s) => ((IResponseCompletion)s!).SetFrom(t), pending.Completion, TaskScheduler.Default);
    }

    public void Remove(ActivationData activation) =>
        _activations.TryRemove(new KeyValuePair<GrainId, ActivationData>(activation.GrainId, activation));

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(Catalog), ServiceLifecycleStage.RuntimeGrainServices, StartAsync, StopAsync);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        _collector = TimeProvider.CreateTimer(static s => ((Catalog)s!).CollectIdle(), this, Options.CollectionQuantum, Options.CollectionQuantum);
        _viewSubscription = _membership.Subscribe(OnViewChanged);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        _collector?.Dispose();
        _viewSubscription?.Dispose();
        var all = _activations.Values.ToList();
        Log.DeactivatingAll(all.Count);
        await Task.WhenAll(all.Select(a => a.DeactivateAsync(new DeactivationReason(DeactivationReasonCode.ShuttingDown, "the silo is stopping"))))
            .WaitAsync(Options.DeactivationTimeout, TimeProvider, cancellationToken).ConfigureAwait(false);
    }

    internal void CollectIdle()
    {
        var now = TimeProvider.GetTimestamp();
        var count = 0;
        foreach (var activation in _activations.Values)
        {
            var age = activation.GrainClass.CollectionAge ?? Options.CollectionAge;
            var idleSince = now - (long)(age.TotalSeconds * TimeProvider.TimestampFrequency);
            if (activation.State == ActivationState.Valid && activation.LastActivity <= idleSince && !activation.IsBusy)
            {
                activation.DeactivateIfIdle(idleSince, new DeactivationReason(DeactivationReasonCode.ActivationIdle, $"idle for more than {age}"));
                count++;
            }
        }

        if (count > 0)
        {
            Log.CollectedIdle(count);
        }
    }

    private void OnViewChanged(MembershipView view)
    {
        if (!view.IsActive(_local.SiloAddress))
        {
            return;
        }

        // Grains that now belong to another silo are deactivated here (flushing their state), so
        // the next call activates them on their new owner from storage.
        var moving = _activations.Values.Where(a => _placement.GetOwner(a.GrainId) is { } owner && owner != _local.SiloAddress).ToList();
        if (moving.Count > 0)
        {
            Log.MovingActivations(moving.Count);
            foreach (var activation in moving)
            {
                activation.RequestDeactivation(new DeactivationReason(DeactivationReasonCode.PlacementChanged, $"membership view {view.Version} places it elsewhere"));
            }
        }
    }

    public void Dispose()
    {
        _collector?.Dispose();
        _viewSubscription?.Dispose();
    }
}
