using Analytics.Runtime.Invocation;
using Analytics.Runtime.Messaging;

namespace Analytics.Runtime.Hosting;

/// <summary>
/// A cluster client in the same process as the silos: it sends each call to a gateway silo over
/// the in-process network, and moves to the next gateway when one is gone.
/// </summary>
public sealed class InProcessClusterClient : IClusterClient, IGrainCallInvoker
{
    private readonly InProcessNetwork _network;
    private readonly TimeSpan _responseTimeout;
    private readonly TimeProvider _timeProvider;
    private int _next;

    public InProcessClusterClient(InProcessNetwork network, IServiceProvider services, TimeSpan? responseTimeout = null, TimeProvider? timeProvider = null)
    {
        _network = network;
        ServiceProvider = services;
        _responseTimeout = responseTimeout ?? TimeSpan.FromSeconds(30);
        _timeProvider = timeProvider ?? TimeProvider.System;
        References = new GrainReferenceFactory(this);
    }

    public IServiceProvider ServiceProvider { get; }

    public GrainReferenceFactory References { get; }

    public TGrainInterface GetGrain<TGrainInterface>(string key)
        where TGrainInterface : IGrainWithStringKey =>
        References.GetGrain<TGrainInterface>(key);

    public Task Invoke(GrainId target, GrainInvokable request)
    {
        var gateways = _network.Silos.ToArray();
        if (gateways.Length == 0)
        {
            return Task.FromException(new SiloUnavailableException($"No gateway silo is available for the call to {request.Method} on grain {target}."));
        }

        // Round-robin over the gateways; move on only when a gateway was already gone, because
        // only a call that never left is safe to send again (delivery is at most once).
        var start = Interlocked.Increment(ref _next);
        Task response = Task.CompletedTask;
        for (var attempt = 0; attempt < gateways.Length; attempt++)
        {
            var gateway = gateways[(int)((uint)(start + attempt) % gateways.Length)];
            response = _network.Send(gateway, target, request, hopCount: 0);
            var neverLeft = response.IsFaulted && response.Exception!.InnerException is SiloUnavailableException && !_network.Silos.Contains(gateway);
            if (!neverLeft)
            {
                break;
            }
        }

        return response.IsCompleted ? response : request.WithTimeout(response, target, _responseTimeout, _timeProvider);
    }
}
