using System.Net;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Messaging.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// The silo's network transport. It listens on the silo port for other silos (calls and probes)
/// and, once the silo is active, on the gateway port for clients; it keeps one multiplexed
/// connection to each silo it calls. Every request names the generation of the silo it is meant
/// for, so a silo restarted on the same endpoint refuses its predecessor's calls instead of
/// running them. When a silo is declared dead its connection is dropped, and calls waiting on it
/// fail at once with <see cref="SiloUnavailableException"/>.
/// </summary>
internal sealed partial class NetworkMessageTransport : IMessageTransport, ISiloProber, ILifecycleParticipant<ISiloLifecycle>, IAsyncDisposable
{
    private readonly LocalSiloDetails _local;
    private readonly SiloOptions _siloOptions;
    private readonly NetworkMessagingOptions _options;
    private readonly FrameNetworkOptions _frames;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly ConnectionPool<SiloAddress> _connections;
    private readonly NetworkStatistics _statistics = new();
    private FrameListener? _siloListener;
    private FrameListener? _gatewayListener;
    private IDisposable? _viewSubscription;
    private IIncomingRequestHandler? _router;
    private IGrainCallInvoker? _gatewayInvoker;
    private IMembershipViewProvider? _membership;
    private readonly TimeSpan _responseTimeout;

    public NetworkMessageTransport(
        LocalSiloDetails local,
        IOptions<SiloOptions> siloOptions,
        IOptions<NetworkMessagingOptions> options,
        IOptions<MessagingOptions> messaging,
        IServiceProvider services,
        TimeProvider timeProvider,
        ILogger<NetworkMessageTransport> logger)
    {
        _local = local;
        _siloOptions = siloOptions.Value;
        _options = options.Value;
        _services = services;
        _logger = logger;
        _responseTimeout = messaging.Value.ResponseTimeout;
        _frames = _options.ToFrameOptions(local.ClusterId, timeProvider);
        _connections = new ConnectionPool<SiloAddress>((silo, cancellationToken) =>
            FrameConnector.ConnectAsync(ToEndPoint(silo.Host, silo.Port), _frames, handler: null, _logger, cancellationToken));
    }

    public NetworkStatistics Statistics => _statistics;

    /// <summary>The port clients reach this silo on, once the gateway listens (0 before).</summary>
    public int GatewayPort => _gatewayListener?.LocalEndPoint.Port ?? 0;

    public void Participate(ISiloLifecycle lifecycle)
    {
        // Listening before the silo joins the table, so that the silos probing the new row get answers.
        lifecycle.Subscribe($"{nameof(NetworkMessageTransport)}(silo)", ServiceLifecycleStage.RuntimeInitialize - 100, StartSiloPortAsync, StopSiloPortAsync);
        // Clients only once grains can run; on stop the gateway closes first, so clients move on early.
        lifecycle.Subscribe($"{nameof(NetworkMessageTransport)}(gateway)", ServiceLifecycleStage.Active + 100, StartGatewayAsync, StopGatewayAsync);
    }

    public bool EnforcesResponseTimeout => true;

    public Task SendRequest(SiloAddress target, GrainId grainId, GrainInvokable request, int hopCount)
    {
        _membership ??= _services.GetRequiredService<IMembershipViewProvider>();
        if (_membership.Current.GetStatus(target) == SiloStatus.Dead)
        {
            return request.FromException(new SiloUnavailableException($"Silo {target} is dead; the call to {request.Method} on grain {grainId} was not sent."));
        }

        Interlocked.Increment(ref _statistics.RequestsSent);
        var timeout = _responseTimeout;
        return RemoteCall.Send(_connections.GetAsync(target), grainId, request, hopCount, target.Generation, timeout, failure => failure switch
        {
            PeerUnreachableException => new SiloUnavailableException($"Silo {target} could not be reached ({failure.Message}); the call to {request.Method} on grain {grainId} was not delivered.", failure.InnerException),
            ConnectionLostException => request.SiloGoneError(grainId, target),
            TimeoutException => GrainInvokable.TimeoutError(grainId, request.Method, timeout),
            _ => failure,
        });
    }

    public async Task ProbeAsync(SiloAddress target, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _statistics.ProbesSent);
        await RemoteCall.PingAsync(_connections.GetAsync(target), target.Generation, cancellationToken).ConfigureAwait(false);
    }

    private Task StartSiloPortAsync(CancellationToken cancellationToken)
    {
        _router = _services.GetRequiredService<SiloCallRouter>();
        _siloListener = FrameListener.Start(ToEndPoint(_options.ListenAddress, _siloOptions.SiloPort), _frames, HandleSiloRequestAsync, logger: _logger);
        _viewSubscription = _services.GetRequiredService<IMembershipViewProvider>().Subscribe(DropDeadSilos);
        LogListening("silo", _siloListener.LocalEndPoint, _frames.ClusterSecret is not null, _frames.ServerTls is not null);
        if (IPAddress.TryParse(_siloOptions.AdvertisedHost, out var advertised) && IPAddress.IsLoopback(advertised) && !IPAddress.IsLoopback(_siloListener.LocalEndPoint.Address))
        {
            // Silos on other hosts would probe their own loopback, miss, and vote this silo dead.
            LogLoopbackAdvertised(_siloOptions.AdvertisedHost, _siloListener.LocalEndPoint);
        }

        return Task.CompletedTask;
    }

    private Task StartGatewayAsync(CancellationToken cancellationToken)
    {
        _gatewayInvoker = _services.GetRequiredService<IGrainCallInvoker>();
        _gatewayListener = FrameListener.Start(ToEndPoint(_options.ListenAddress, _siloOptions.GatewayPort), _frames, HandleGatewayRequestAsync, logger: _logger);
        LogListening("gateway", _gatewayListener.LocalEndPoint, _frames.ClusterSecret is not null, _frames.ServerTls is not null);
        return Task.CompletedTask;
    }

    private async Task StopGatewayAsync(CancellationToken cancellationToken)
    {
        if (_gatewayListener is not null)
        {
            await _gatewayListener.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task StopSiloPortAsync(CancellationToken cancellationToken)
    {
        _viewSubscription?.Dispose();
        if (_siloListener is not null)
        {
            await _siloListener.DisposeAsync().ConfigureAwait(false);
        }

        await _connections.DisposeAsync().ConfigureAwait(false);
    }

    private ValueTask<ReadOnlyMemory<byte>> HandleSiloRequestAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var isPing = MessageCodec.IsPing(payload.Span, out var pinged);
        var generation = isPing ? pinged : MessageCodec.ReadTargetGeneration(payload.Span);
        if (generation != 0 && generation != _local.SiloAddress.Generation)
        {
            // Refused before decoding: the caller learns at once that the silo it wanted is gone. A
            // ping fails as a protocol error; a call fails with SiloUnavailableException, which
            // callers (stream agents) retry once placement has moved on, instead of giving up.
            var gone = new SiloUnavailableException($"The endpoint {_local.SiloAddress.Host}:{_local.SiloAddress.Port} is now silo {_local.SiloAddress}, not the generation {generation} the request was meant for; that silo is gone, and the call was not delivered.");
            return isPing ? throw gone : ValueTask.FromResult<ReadOnlyMemory<byte>>(MessageCodec.EncodeException(gone));
        }

        if (isPing)
        {
            return ValueTask.FromResult(ReadOnlyMemory<byte>.Empty);
        }

        Interlocked.Increment(ref _statistics.RequestsReceived);
        return RemoteCall.AnswerAsync(payload, incoming => _router!.HandleIncoming(incoming.GrainId, incoming.Request, incoming.HopCount));
    }

    /// <summary>A client's call: routed from here as if it were made in this silo.</summary>
    private ValueTask<ReadOnlyMemory<byte>> HandleGatewayRequestAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (MessageCodec.ReadTargetGeneration(payload.Span) is not 0 and var generation)
        {
            // A silo's call for a silo whose old port this gateway now has: routing it as a client
            // call could send it round to this very gateway again.
            return ValueTask.FromResult<ReadOnlyMemory<byte>>(MessageCodec.EncodeException(new SiloUnavailableException(
                $"{_siloOptions.AdvertisedHost}:{_siloOptions.GatewayPort} is a gateway, not the silo of generation {generation} the request was meant for; that silo is gone, and the call was not delivered.")));
        }

        Interlocked.Increment(ref _statistics.GatewayRequests);
        return RemoteCall.AnswerAsync(payload, incoming => _gatewayInvoker!.Invoke(incoming.GrainId, incoming.Request));
    }

    private void DropDeadSilos(MembershipView view)
    {
        foreach (var peer in _connections.Peers.ToList())
        {
            if (view.GetStatus(peer) == SiloStatus.Dead)
            {
                LogDroppedDead(peer);
                _connections.Abort(peer);
            }
        }
    }

    /// <summary>For test clusters: the silo's network presence ends as on SIGKILL (sockets dropped, no goodbyes).</summary>
    internal void Kill()
    {
        _viewSubscription?.Dispose();
        _gatewayListener?.Abort();
        _siloListener?.Abort();
        foreach (var peer in _connections.Peers.ToList())
        {
            _connections.Abort(peer);
        }
    }

    internal static IPEndPoint ToEndPoint(string host, int port) =>
        IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, port)
        : new IPEndPoint(Dns.GetHostAddresses(host).FirstOrDefault() ?? throw new SiloUnavailableException($"The host name '{host}' does not resolve."), port);

    public async ValueTask DisposeAsync()
    {
        await StopGatewayAsync(CancellationToken.None).ConfigureAwait(false);
        await StopSiloPortAsync(CancellationToken.None).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for {Kind} connections on {EndPoint} (cluster secret: {Authenticated}, TLS: {Tls})")]
    private partial void LogListening(string kind, IPEndPoint endPoint, bool authenticated, bool tls);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This silo advertises {Host} while listening on {EndPoint}: silos on other hosts cannot reach it. Set Silo:AdvertisedHost to an address they can reach (on ECS, the task's private IP) unless every silo runs on this host")]
    private partial void LogLoopbackAdvertised(string host, IPEndPoint endPoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "Dropped the connection to {Silo}: it was declared dead")]
    private partial void LogDroppedDead(SiloAddress silo);
}

/// <summary>Counts of the silo's network traffic, for /api/cluster and the messages-per-event figure.</summary>
public sealed class NetworkStatistics
{
    internal long RequestsSent;
    internal long RequestsReceived;
    internal long GatewayRequests;
    internal long ProbesSent;

    public long Sent => Interlocked.Read(ref RequestsSent);

    public long Received => Interlocked.Read(ref RequestsReceived);

    public long FromClients => Interlocked.Read(ref GatewayRequests);

    public long Probes => Interlocked.Read(ref ProbesSent);
}
