using System.Text.Json;

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

    /// <summary>Writes the arguments as JSON values, in order (generated; only calls that cross processes use it).</summary>
    public virtual void WriteArguments(Utf8JsonWriter writer, JsonSerializerOptions options) =>
        throw new NotSupportedException($"{Method} cannot be sent to another process.");

    /// <summary>Reads the arguments written by <see cref="WriteArguments"/>; the reader is before the first value.</summary>
    public virtual void ReadArguments(ref Utf8JsonReader reader, JsonSerializerOptions options) =>
        throw new NotSupportedException($"{Method} cannot be received from another process.");

    /// <summary>Writes the result of the completed, successful method task (nothing for Task).</summary>
    internal abstract void WriteResult(Task completed, Utf8JsonWriter writer, JsonSerializerOptions options);

    /// <summary>Turns a result written by <see cref="WriteResult"/> into the task the caller awaits (Task or Task&lt;T&gt;).</summary>
    internal abstract Task ReadResult(ReadOnlySpan<byte> json, JsonSerializerOptions options);

    /// <summary>A faulted task of the method's type, so typed callers see the exception itself.</summary>
    internal abstract Task FromException(Exception exception);

    /// <summary>
    /// The caller's task of a request sent to another process: the response frame decoded into the
    /// method's result or exception. Transport failures go through <paramref name="mapFailure"/>.
    /// </summary>
    internal abstract Task ReceiveResponse(Task<ReadOnlyMemory<byte>> response, Func<Exception, Exception> mapFailure);

    private protected static async Task<ReadOnlyMemory<byte>> AwaitFrame(Task<ReadOnlyMemory<byte>> response, Func<Exception, Exception> mapFailure)
    {
        try
        {
            return await response.ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            throw mapFailure(exception);
        }
    }

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

    internal sealed override void WriteResult(Task completed, Utf8JsonWriter writer, JsonSerializerOptions options) => writer.WriteNullValue();

    internal sealed override Task ReadResult(ReadOnlySpan<byte> json, JsonSerializerOptions options) => Task.CompletedTask;

    internal sealed override Task FromException(Exception exception) => Task.FromException(exception);

    internal sealed override async Task ReceiveResponse(Task<ReadOnlyMemory<byte>> response, Func<Exception, Exception> mapFailure)
    {
        var payload = await AwaitFrame(response, mapFailure).ConfigureAwait(false);
        await Messaging.Serialization.MessageCodec.DecodeResponse(this, payload.Span).ConfigureAwait(false);
    }

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

    internal sealed override void WriteResult(Task completed, Utf8JsonWriter writer, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, ((Task<TResult>)completed).Result, options);

    internal sealed override Task ReadResult(ReadOnlySpan<byte> json, JsonSerializerOptions options) =>
        Task.FromResult(JsonSerializer.Deserialize<TResult>(json, options)!);

    internal sealed override Task FromException(Exception exception) => Task.FromException<TResult>(exception);

    internal sealed override Task ReceiveResponse(Task<ReadOnlyMemory<byte>> response, Func<Exception, Exception> mapFailure) => ReceiveTyped(response, mapFailure);

    private async Task<TResult> ReceiveTyped(Task<ReadOnlyMemory<byte>> response, Func<Exception, Exception> mapFailure)
    {
        var payload = await AwaitFrame(response, mapFailure).ConfigureAwait(false);
        return await ((Task<TResult>)Messaging.Serialization.MessageCodec.DecodeResponse(this, payload.Span)).ConfigureAwait(false);
    }

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
