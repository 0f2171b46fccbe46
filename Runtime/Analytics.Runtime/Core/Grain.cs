using Analytics.Runtime.Activation;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Runtime;

/// <summary>
/// The base class of every grain. A grain is activated on its first call, handles one request at a
/// time (unless it opts into interleaving), and is collected when idle.
/// </summary>
public abstract class Grain
{
    protected Grain()
    {
        // Grains are constructed by the activator through dependency injection; it publishes the
        // activation being built so that grain constructors need no extra parameter.
        Activation = ActivationData.Constructing
            ?? throw new InvalidOperationException("Grains are created by the runtime on their first call; use IGrainFactory.GetGrain to get a reference.");
    }

    internal ActivationData Activation { get; }

    public GrainId GrainId => Activation.GrainId;

    /// <summary>The grain's key.</summary>
    public string GetPrimaryKeyString() => Activation.GrainId.Key;

    protected IGrainFactory GrainFactory => Activation.Services.GetRequiredService<IGrainFactory>();

    protected IServiceProvider ServiceProvider => Activation.Services;

    /// <summary>Called after persistent state is loaded and before the first request runs.</summary>
    public virtual Task OnActivateAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Called before the activation is dropped, as a turn of its own.</summary>
    public virtual Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Deactivates this activation once the current request completes.</summary>
    protected void DeactivateOnIdle() => Activation.RequestDeactivation(new DeactivationReason(DeactivationReasonCode.ApplicationRequested, "DeactivateOnIdle was called"));

    /// <summary>Keeps this activation out of idle collection for at least the given time.</summary>
    protected void DelayDeactivation(TimeSpan timeSpan) => Activation.DelayDeactivation(timeSpan);

    /// <summary>
    /// A timer whose callbacks run as turns of this grain: they never overlap a request (unless
    /// Interleave is set) nor each other. Timer ticks do not count as activity for idle collection.
    /// </summary>
    protected IGrainTimer RegisterGrainTimer(Func<CancellationToken, Task> callback, GrainTimerCreationOptions options) =>
        Activation.RegisterTimer(callback, options);

    protected IGrainTimer RegisterGrainTimer(Func<CancellationToken, Task> callback, TimeSpan dueTime, TimeSpan period) =>
        Activation.RegisterTimer(callback, new GrainTimerCreationOptions { DueTime = dueTime, Period = period });
}

public enum DeactivationReasonCode
{
    None,
    ActivationIdle,
    ApplicationRequested,
    PlacementChanged,
    ShuttingDown,
    StaleState,
    ActivationFailed,
}

public readonly record struct DeactivationReason(DeactivationReasonCode Code, string Description)
{
    public override string ToString() => $"{Code}: {Description}";
}

public sealed class GrainTimerCreationOptions
{
    public TimeSpan DueTime { get; init; }

    /// <summary>Infinite for a one-shot timer.</summary>
    public TimeSpan Period { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>Lets ticks interleave with requests at await points.</summary>
    public bool Interleave { get; init; }
}

public interface IGrainTimer : IDisposable
{
}
