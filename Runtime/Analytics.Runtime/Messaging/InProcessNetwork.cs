using System.Collections.Concurrent;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;

namespace Analytics.Runtime.Messaging;

/// <summary>
/// The in-process "network" shared by the silos of one process: a registry of silo endpoints.
/// Killing a silo here fails every call pending to it at once, as a broken connection would.
/// </summary>
public sealed class InProcessNetwork
{
    private readonly ConcurrentDictionary<SiloAddress, Endpoint> _endpoints = new();

    public void Register(SiloAddress silo, IIncomingRequestHandler handler) => _endpoints[silo] = new Endpoint(handler);

    /// <summary>Takes the silo off the network; pending calls to it fail with SiloUnavailableException.</summary>
    public void Unregister(SiloAddress silo)
    {
        if (_endpoints.TryRemove(silo, out var endpoint))
        {
            endpoint.Gone.Cancel();
        }
    }

    public IReadOnlyCollection<SiloAddress> Silos => (IReadOnlyCollection<SiloAddress>)_endpoints.Keys;

    internal Task Send(SiloAddress target, GrainId grainId, GrainInvokable request, int hopCount)
    {
        if (!_endpoints.TryGetValue(target, out var endpoint))
        {
            return Task.FromException(new SiloUnavailableException($"Silo {target} is not reachable; the call to {request.Method} on grain {grainId} was not delivered."));
        }

        Task response;
        try
        {
            response = endpoint.Handler.HandleIncoming(grainId, request, hopCount);
        }
        catch (Exception exception)
        {
            return Task.FromException(exception);
        }

        return response.IsCompleted ? response : request.WithTimeoutOrCancellation(response, grainId, endpoint.Gone.Token, target);
    }

    private sealed class Endpoint(IIncomingRequestHandler handler)
    {
        public IIncomingRequestHandler Handler { get; } = handler;

        public CancellationTokenSource Gone { get; } = new();
    }
}

/// <summary>The transport of one silo over the in-process network.</summary>
internal sealed class InProcessTransport(InProcessNetwork network) : IMessageTransport
{
    public Task SendRequest(SiloAddress target, GrainId grainId, GrainInvokable request, int hopCount) =>
        network.Send(target, grainId, request, hopCount);
}
