using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;

namespace Analytics.Runtime.Messaging;

/// <summary>
/// Carries grain calls between silos (and from clients to gateway silos). The in-process transport
/// hands the call object across; a network transport serialises it. Grain code never sees which.
/// </summary>
public interface IMessageTransport
{
    /// <summary>Sends a request and returns its response (Task or Task&lt;T&gt;, as the request's method).
    /// Fails fast with <see cref="SiloUnavailableException"/> when the target is gone.</summary>
    Task SendRequest(SiloAddress target, GrainId grainId, GrainInvokable request, int hopCount);

    /// <summary>True when the transport fails its own requests after the response timeout, so the router need not wrap each call in a timer.</summary>
    bool EnforcesResponseTimeout => false;
}

/// <summary>Receives requests that arrive over a transport.</summary>
public interface IIncomingRequestHandler
{
    Task HandleIncoming(GrainId grainId, GrainInvokable request, int hopCount);
}
