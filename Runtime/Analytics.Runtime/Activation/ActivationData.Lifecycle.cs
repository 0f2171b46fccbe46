namespace Analytics.Runtime.Activation;

/// <summary>Activation, deactivation and timers: each runs as turns of the activation.</summary>
internal sealed partial class ActivationData
{
    private static readonly SendOrPostCallback ActivateCallback = static s => _ = ((ActivationData)s!).ActivateAsync();
    private static readonly SendOrPostCallback DeactivateCallback = static s => ((ActivationData)s!).Pump();

    /// <summary>Queues the activation turn; requests that arrive meanwhile wait in the gate.</summary>
    public void ScheduleActivation() => Post(ActivateCallback, this);

    private async Task ActivateAsync()
    {
        State = ActivationState.Activating;
        _running++;
        try
        {
            GrainInstance = Construct(this, () => _class.Factory(Services, this));
            using var timeout = new CancellationTokenSource(_catalog.Options.ActivationTimeout, _catalog.TimeProvider);
            foreach (var participant in LifecycleParticipants)
            {
                await participant.OnActivateAsync(timeout.Token);
            }

            await ((Grain)GrainInstance).OnActivateAsync(timeout.Token);
            State = ActivationState.Valid;
            _running--;
            _catalog.Log.Activated(GrainId);
        }
        catch (Exception exception)
        {
            _running--;
            _catalog.Log.ActivationFailed(exception, GrainId);
            var error = new GrainActivationException($"Activation of grain {GrainId} failed: {exception.Message}", exception);
            _activationError = error;
            State = ActivationState.Invalid;
            _catalog.Remove(this);
            while (_waiting is not null && _waiting.TryDequeue(out var pending))
            {
                pending.Completion?.SetException(error);
            }

            return;
        }

        Pump();
    }

    /// <summary>Asks the activation to deactivate once no request is running. Safe from any thread.</summary>
    public void RequestDeactivation(DeactivationReason reason)
    {
        if (Current == this)
        {
            MarkForDeactivation(reason);
        }
        else
        {
            Post(static s => { var (a, r) = ((ActivationData, DeactivationReason))s!; a.MarkForDeactivation(r); }, (this, reason));
        }
    }

    /// <summary>Deactivates only if the activation is still idle when the turn runs (the collector's check was racy).</summary>
    public void DeactivateIfIdle(long idleSinceTimestamp, DeactivationReason reason) =>
        Post(static s =>
        {
            var (a, since, r) = ((ActivationData, long, DeactivationReason))s!;
            if (a.LastActivity <= since && a._running == 0 && a._catalog.TimeProvider.GetTimestamp() >= a._keepAliveUntil)
            {
                a.MarkForDeactivation(r);
            }
        }, (this, idleSinceTimestamp, reason));

    private void MarkForDeactivation(DeactivationReason reason)
    {
        if (_deactivationRequested || State is ActivationState.Deactivating or ActivationState.Invalid)
        {
            return;
        }

        _deactivationRequested = true;
        _deactivationReason = reason;
        Pump();
    }

    public void DelayDeactivation(TimeSpan timeSpan) =>
        _keepAliveUntil = Math.Max(_keepAliveUntil, _catalog.TimeProvider.GetTimestamp() + (long)(timeSpan.TotalSeconds * _catalog.TimeProvider.TimestampFrequency));

    private void StartDeactivation()
    {
        State = ActivationState.Deactivating;
        _ = DeactivateAsync();
    }

    private async Task DeactivateAsync()
    {
        _running++;
        try
        {
            if (_timers is not null)
            {
                foreach (var timer in _timers.ToArray())
                {
                    timer.Dispose();
                }
            }

            using var timeout = new CancellationTokenSource(_catalog.Options.DeactivationTimeout, _catalog.TimeProvider);
            await ((Grain)GrainInstance!).OnDeactivateAsync(_deactivationReason, timeout.Token);
        }
        catch (Exception exception)
        {
            _catalog.Log.DeactivationFailed(exception, GrainId);
        }
        finally
        {
            _running--;
            State = ActivationState.Invalid;
            _catalog.Remove(this);
            _catalog.Log.Deactivated(GrainId, _deactivationReason.ToString());
            _deactivationCompleted?.TrySetResult();
            Post(DeactivateCallback, this);
        }
    }

    private TaskCompletionSource? _deactivationCompleted;

    /// <summary>Deactivates now (used at shutdown and when placement moves the grain) and waits for it.</summary>
    public Task DeactivateAsync(DeactivationReason reason)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(static s =>
        {
            var (a, r, c) = ((ActivationData, DeactivationReason, TaskCompletionSource))s!;
            if (a.State == ActivationState.Invalid)
            {
                c.TrySetResult();
                return;
            }

            a._deactivationCompleted = c;
            a.MarkForDeactivation(r);
        }, (this, reason, completion));
        return completion.Task;
    }

    public IGrainTimer RegisterTimer(Func<CancellationToken, Task> callback, GrainTimerCreationOptions options)
    {
        if (State is ActivationState.Deactivating or ActivationState.Invalid)
        {
            throw new InvalidOperationException($"Grain {GrainId} is deactivating and cannot register a timer.");
        }

        var timer = new GrainTimer(this, callback, options, _catalog.TimeProvider);
        (_timers ??= []).Add(timer);
        timer.Start();
        return timer;
    }

    internal void RemoveTimer(GrainTimer timer) => _timers?.Remove(timer);

    /// <summary>Queues a timer tick as a request, so it passes through the same gate as calls.</summary>
    internal void EnqueueTimerTick(GrainTimer.TickInvokable tick) =>
        Post(RequestArrivedCallback, new PendingRequest(this, tick, tick.CreateCompletionForTimer()));
}
