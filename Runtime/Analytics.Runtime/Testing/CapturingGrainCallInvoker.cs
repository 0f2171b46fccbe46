using Analytics.Runtime.Invocation;

namespace Analytics.Runtime.Testing;

/// <summary>
/// For tests of what a call looks like rather than what it does: proxies made from this invoker
/// record each request (the generated invokable with its arguments) and never complete.
/// </summary>
public sealed class CapturingGrainCallInvoker : IGrainCallInvoker
{
    public CapturingGrainCallInvoker() => References = new GrainReferenceFactory(this);

    public List<(GrainId Target, GrainInvokable Request)> Calls { get; } = [];

    public GrainReferenceFactory References { get; }

    public Task Invoke(GrainId target, GrainInvokable request)
    {
        Calls.Add((target, request));
        return new TaskCompletionSource().Task;
    }
}
