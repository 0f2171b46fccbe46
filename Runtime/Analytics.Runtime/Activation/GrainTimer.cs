using Analytics.Runtime.Invocation;

namespace Analytics.Runtime.Activation;

/// <summary>
/// A grain timer. Each tick enters the activation's request gate like a call, so it never overlaps
/// a request or another tick; the next tick is armed only when the previous one has finished.
/// </summary>
internal sealed class GrainTimer : IGrainTimer
{
    private static readonly GrainMethodDescriptor TickMethod = new("GrainTimer", "Tick", alwaysInterleave: false, readOnly: false);
    private static readonly GrainMethodDescriptor InterleavingTickMethod = new("GrainTimer", "Tick", alwaysInterleave: true, readOnly: false);

    private readonly ActivationData _activation;
    private readonly Func<CancellationToken, Task> _callback;
    private readonly GrainTimerCreationOptions _options;
    private readonly ITimer _timer;
    private readonly CancellationTokenSource _disposed = new();

    public GrainTimer(ActivationData activation, Func<CancellationToken, Task> callback, GrainTimerCreationOptions options, TimeProvider timeProvider)
    {
        _activation = activation;
        _callback = callback;
        _options = options;
        _timer = timeProvider.CreateTimer(static s => ((GrainTimer)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public void Start() => _timer.Change(_options.DueTime, Timeout.InfiniteTimeSpan);

    private void OnTimer()
    {
        if (!_disposed.IsCancellationRequested)
        {
            _activation.EnqueueTimerTick(new TickInvokable(this));
        }
    }

    private async Task TickAsync()
    {
        try
        {
            await _callback(_disposed.Token);
        }
        finally
        {
            if (!_disposed.IsCancellationRequested && _options.Period != Timeout.InfiniteTimeSpan)
            {
                _timer.Change(_options.Period, Timeout.InfiniteTimeSpan);
            }
        }
    }

    public void Dispose()
    {
        if (!_disposed.IsCancellationRequested)
        {
            _disposed.Cancel();
            _timer.Dispose();
            _activation.RemoveTimer(this);
        }
    }

    /// <summary>A timer tick dressed as a call, so the gate treats it like one.</summary>
    internal sealed class TickInvokable(GrainTimer timer) : VoidGrainInvokable
    {
        public override GrainMethodDescriptor Method => timer._options.Interleave ? InterleavingTickMethod : TickMethod;

        public override Task Invoke(object grain) => timer.TickAsync();

        // A failing tick is logged by nobody else, so its completion observes and drops the error.
        internal IResponseCompletion CreateCompletionForTimer() => new ResponseCompletion<object?>();
    }
}
