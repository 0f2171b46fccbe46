namespace Analytics.Runtime.Invocation;

/// <summary>
/// One call to a grain method, with its arguments as fields. The source generator writes a sealed
/// subclass per interface method, so dispatch is a virtual call and a cast: no reflection and no
/// boxing of arguments.
/// </summary>
public abstract class GrainInvokable
{
    public abstract GrainMethodDescriptor Method { get; }

    /// <summary>Calls the method on the grain instance. Returns Task or Task&lt;T&gt;.</summary>
    public abstract Task Invoke(object grain);

    /// <summary>A completion source of the method's result type, for calls that must wait in a queue.</summary>
    internal abstract IResponseCompletion CreateCompletion();

    /// <summary>Waits for a pending result with a time limit; the exception names grain and method.</summary>
    internal abstract Task WithTimeout(Task pending, GrainId target, TimeSpan timeout, TimeProvider timeProvider);

    /// <summary>Waits for a pending remote result until the silo that runs it goes away.</summary>
    internal abstract Task WithTimeoutOrCancellation(Task pending, GrainId target, CancellationToken siloGone, Membership.SiloAddress silo);

    internal SiloUnavailableException SiloGoneError(GrainId target, Membership.SiloAddress silo) =>
        new($"Silo {silo} went away while it was running {Method} on grain {target}; the outcome of the call is unknown.");

    internal static GrainCallTimeoutException TimeoutError(GrainId target, GrainMethodDescriptor method, TimeSpan timeout) =>
        new($"The call to {method} on grain {target} did not complete within the response timeout of {timeout.TotalSeconds:0.###} s; its outcome is unknown.");
}

/// <summary>A call to a method that returns Task.</summary>
public abstract class VoidGrainInvokable : GrainInvokable
{
    internal sealed override IResponseCompletion CreateCompletion() => new ResponseCompletion<object?>();

    internal sealed override async Task WithTimeoutOrCancellation(Task pending, GrainId target, CancellationToken siloGone, Membership.SiloAddress silo)
    {
        try
        {
            await pending.WaitAsync(siloGone).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (siloGone.IsCancellationRequested && !pending.IsCompleted)
        {
            throw SiloGoneError(target, silo);
        }
    }

    internal sealed override async Task WithTimeout(Task pending, GrainId target, TimeSpan timeout, TimeProvider timeProvider)
    {
        try
        {
            await pending.WaitAsync(timeout, timeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!pending.IsCompleted)
        {
            throw TimeoutError(target, Method, timeout);
        }
    }
}

/// <summary>A call to a method that returns Task&lt;T&gt;.</summary>
public abstract class GrainInvokable<TResult> : GrainInvokable
{
    internal sealed override IResponseCompletion CreateCompletion() => new ResponseCompletion<TResult>();

    internal sealed override Task WithTimeoutOrCancellation(Task pending, GrainId target, CancellationToken siloGone, Membership.SiloAddress silo) =>
        WithCancellationTyped((Task<TResult>)pending, target, siloGone, silo);

    private async Task<TResult> WithCancellationTyped(Task<TResult> pending, GrainId target, CancellationToken siloGone, Membership.SiloAddress silo)
    {
        try
        {
            return await pending.WaitAsync(siloGone).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (siloGone.IsCancellationRequested && !pending.IsCompleted)
        {
            throw SiloGoneError(target, silo);
        }
    }

    internal sealed override Task WithTimeout(Task pending, GrainId target, TimeSpan timeout, TimeProvider timeProvider) =>
        WithTimeoutTyped((Task<TResult>)pending, target, timeout, timeProvider);

    private async Task<TResult> WithTimeoutTyped(Task<TResult> pending, GrainId target, TimeSpan timeout, TimeProvider timeProvider)
    {
        try
        {
            return await pending.WaitAsync(timeout, timeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!pending.IsCompleted)
        {
            throw TimeoutError(target, Method, timeout);
        }
    }
}
