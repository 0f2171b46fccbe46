using Analytics.Runtime.Activation;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Placement;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Messaging;

/// <summary>
/// Sends each call made in a silo to the silo that owns the target grain: straight into the local
/// catalog when that is this silo, over the transport otherwise. Requests arriving from other
/// silos are forwarded (at most MaxForwardCount times) if this silo's view places them elsewhere.
/// </summary>
internal sealed class SiloCallRouter : IGrainCallInvoker, IIncomingRequestHandler
{
    private readonly Catalog _catalog;
    private readonly IGrainPlacement _placement;
    private readonly IMessageTransport _transport;
    private readonly LocalSiloDetails _local;
    private readonly MessagingOptions _options;
    private readonly TimeProvider _timeProvider;
    private volatile bool _stopping;
    private volatile bool _killed;

    public SiloCallRouter(Catalog catalog, IGrainPlacement placement, IMessageTransport transport, LocalSiloDetails local, IOptions<MessagingOptions> options, TimeProvider timeProvider)
    {
        _catalog = catalog;
        _placement = placement;
        _transport = transport;
        _local = local;
        _options = options.Value;
        _timeProvider = timeProvider;
        References = new GrainReferenceFactory(this);
        catalog.Router = Route;
    }

    public GrainReferenceFactory References { get; }

    /// <summary>Set when the silo stops: requests from elsewhere are refused so callers retry on a live silo.</summary>
    public void MarkStopping() => _stopping = true;

    /// <summary>Set when a test cluster kills the silo: nothing goes in or out any more.</summary>
    internal void Kill() => _killed = true;

    public Task Invoke(GrainId target, GrainInvokable request)
    {
        if (_killed)
        {
            return Task.FromException(new SiloUnavailableException($"Silo {_local.SiloAddress} is dead; the call to {request.Method} on grain {target} was not sent."));
        }

        var owner = _placement.GetOwner(target);
        if (owner is not null && owner != _local.SiloAddress && _transport.EnforcesResponseTimeout)
        {
            return _transport.SendRequest(owner, target, request, hopCount: 0);
        }

        var response = Route(target, request);
        return response.IsCompleted ? response : request.WithTimeout(response, target, _options.ResponseTimeout, _timeProvider);
    }

    private Task Route(GrainId target, GrainInvokable request)
    {
        var owner = _placement.GetOwner(target);
        if (owner is null || owner == _local.SiloAddress)
        {
            return _catalog.InvokeLocal(target, request);
        }

        return _transport.SendRequest(owner, target, request, hopCount: 0);
    }

    public Task HandleIncoming(GrainId grainId, GrainInvokable request, int hopCount)
    {
        if (_stopping || _killed)
        {
            return Task.FromException(new SiloUnavailableException($"Silo {_local.SiloAddress} is shutting down and refused {request.Method} on grain {grainId}; retry on another silo."));
        }

        var owner = _placement.GetOwner(grainId);
        if (owner is not null && owner != _local.SiloAddress && hopCount < _options.MaxForwardCount)
        {
            return _transport.SendRequest(owner, grainId, request, hopCount + 1);
        }

        return _catalog.InvokeLocal(grainId, request);
    }
}
