namespace Analytics.Runtime.Invocation;

/// <summary>Sends a call to wherever its target grain lives. Implemented by silos and clients.</summary>
public interface IGrainCallInvoker
{
    /// <summary>Returns Task, or Task&lt;T&gt; for a typed invokable.</summary>
    Task Invoke(GrainId target, GrainInvokable request);

    GrainReferenceFactory References { get; }
}

/// <summary>
/// The base class of every generated proxy. A reference is a small immutable value (a grain id and
/// the invoker of the process that made it), so it can be stored and passed in calls freely.
/// </summary>
public abstract class GrainReference(GrainId grainId, IGrainCallInvoker invoker) : IEquatable<GrainReference>
{
    public GrainId GrainId { get; } = grainId;

    protected IGrainCallInvoker Invoker { get; } = invoker;

    /// <summary>A reference to the same grain through another of its interfaces.</summary>
    public TGrainInterface Cast<TGrainInterface>()
        where TGrainInterface : IGrain =>
        Invoker.References.Create<TGrainInterface>(GrainId);

    protected Task InvokeVoid(GrainInvokable request) => Invoker.Invoke(GrainId, request);

    protected Task<T> Invoke<T>(GrainInvokable<T> request)
    {
        var response = Invoker.Invoke(GrainId, request);
        return response as Task<T> ?? Rethrow<T>(response);
    }

    /// <summary>Failures raised before the method ran come back as untyped faulted tasks.</summary>
    private static async Task<T> Rethrow<T>(Task failed)
    {
        await failed.ConfigureAwait(false);
        throw new InvalidOperationException("A grain call completed without a result.");
    }

    public bool Equals(GrainReference? other) => other is not null && GrainId.Equals(other.GrainId);

    public override bool Equals(object? obj) => obj is GrainReference other && Equals(other);

    public override int GetHashCode() => GrainId.GetHashCode();

    public override string ToString() => GrainId.ToString();
}
