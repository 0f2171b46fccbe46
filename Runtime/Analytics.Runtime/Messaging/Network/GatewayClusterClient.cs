using System.Net;
using Analytics.Runtime.Invocation;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>Where and how a <see cref="GatewayClusterClient"/> connects.</summary>
public sealed class GatewayClientOptions
{
    /// <summary>Gateway endpoints (host:port) of any silos of the cluster; one is enough, more give fail-over.</summary>
    public List<string> Gateways { get; set; } = [];

    public string ClusterId { get; set; } = "dev";

    /// <summary>The cluster's secret (Cluster:Secret of the silos); a wrong one is refused at connect.</summary>
    public string? ClusterSecret { get; set; }

    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A gateway that could not be reached is skipped for this long before it is tried again.</summary>
    public TimeSpan GatewayRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Set to connect with TLS, to gateways whose silos require it (see <see cref="UseTls"/>).</summary>
    public System.Net.Security.SslClientAuthenticationOptions? Tls { get; set; }

    /// <summary>
    /// Connects with TLS and accepts a gateway only if it presents the cluster's certificate.
    /// <para>
    /// TLS: for silos configured with Cluster:Tls:CertificatePath
    /// (<see cref="NetworkMessagingOptions.UseTlsCertificate"/>). The certificate is pinned by its
    /// SHA-1 thumbprint rather than trusted through a certificate authority, so a self-signed one is
    /// fine: an untrusted root and a host name mismatch are ignored, any other certificate error is
    /// not. A gateway presenting another certificate fails the connection with
    /// <see cref="ClusterAuthenticationException"/> naming both thumbprints. The cluster secret
    /// still authenticates this client to the silos.
    /// </para>
    /// </summary>
    /// <param name="thumbprint">The certificate's SHA-1 thumbprint: 40 hex digits, colons and spaces allowed (as 'openssl x509 -noout -fingerprint -sha1' prints it).</param>
    /// <param name="additionalThumbprints">Further accepted thumbprints, while the cluster's certificate is being rotated.</param>
    /// <exception cref="ArgumentException">A thumbprint is not 40 hex digits.</exception>
    public void UseTls(string thumbprint, IEnumerable<string>? additionalThumbprints = null)
    {
        ArgumentNullException.ThrowIfNull(thumbprint);
        Tls = TlsCertificatePinning.ClientOptions(TlsCertificatePinning.Normalize([thumbprint, .. additionalThumbprints ?? []]), "gateway");
    }

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal IReadOnlyList<IPEndPoint> ParseGateways()
    {
        if (Gateways.Count == 0)
        {
            throw new ArgumentException("At least one gateway (host:port) is needed.");
        }

        return Gateways.Select(g =>
        {
            var colon = g.LastIndexOf(':');
            return colon > 0 && int.TryParse(g.AsSpan(colon + 1), out var port) && port is > 0 and <= 65535
                ? NetworkMessageTransport.ToEndPoint(g[..colon], port)
                : throw new ArgumentException($"'{g}' is not a gateway endpoint of the form host:port.");
        }).ToList();
    }
}

/// <summary>
/// A cluster client in another process: it sends each call to a gateway silo, which routes it to
/// the silo that owns the grain. Calls rotate over the gateways. A call moves to the next gateway
/// when its gateway cannot be reached (nothing was sent, so this is always safe), and, for
/// [ReadOnly] methods only, when the gateway's connection dropped before the answer came (their
/// repetition changes nothing). Other calls then fail with <see cref="SiloUnavailableException"/>:
/// their outcome is unknown, as in Orleans.
/// </summary>
public sealed class GatewayClusterClient : IClusterClient, IGrainCallInvoker, IAsyncDisposable
{
    private readonly GatewayClientOptions _options;
    private readonly IReadOnlyList<IPEndPoint> _gateways;
    private readonly long[] _downUntil;
    private readonly ConnectionPool<IPEndPoint> _connections;
    private int _next;

    public GatewayClusterClient(GatewayClientOptions options, IServiceProvider? services = null)
    {
        _options = options;
        _gateways = options.ParseGateways();
        _downUntil = new long[_gateways.Count];
        var frames = new FrameNetworkOptions
        {
            ClusterId = options.ClusterId,
            ClusterSecret = string.IsNullOrEmpty(options.ClusterSecret) ? null : options.ClusterSecret,
            HandshakeTimeout = options.ConnectTimeout,
            ClientTls = options.Tls,
            TimeProvider = options.TimeProvider,
        };
        frames.ThrowIfInvalid();
        _connections = new ConnectionPool<IPEndPoint>((endpoint, cancellationToken) => FrameConnector.ConnectAsync(endpoint, frames, cancellationToken: cancellationToken));
        ServiceProvider = services ?? EmptyServiceProvider.Instance;
        References = new GrainReferenceFactory(this);
    }

    public IServiceProvider ServiceProvider { get; }

    public GrainReferenceFactory References { get; }

    public IReadOnlyList<IPEndPoint> Gateways => _gateways;

    public TGrainInterface GetGrain<TGrainInterface>(string key)
        where TGrainInterface : IGrainWithStringKey =>
        References.GetGrain<TGrainInterface>(key);

    /// <summary>Opens a connection to one gateway, so that a wrong address or secret shows at start-up rather than at the first call.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        _ = await SendWithFailoverAsync(payload: null, retryAfterLoss: true, cancellationToken).ConfigureAwait(false);
    }

    public Task Invoke(GrainId target, GrainInvokable request)
    {
        if (RemoteCall.TryEncode(target, request, hopCount: 0, targetGeneration: 0, out var failed) is not { } payload)
        {
            return failed;
        }

        return request.ReceiveResponse(SendWithFailoverAsync(payload, request.Method.ReadOnly, CancellationToken.None), failure => failure switch
        {
            ConnectionLostException => new SiloUnavailableException($"The connection to the gateway dropped while {request.Method} on grain {target} was running; its outcome is unknown.", failure),
            TimeoutException => GrainInvokable.TimeoutError(target, request.Method, _options.ResponseTimeout),
            _ => failure,
        });
    }

    /// <summary>Sends to the next live gateway; a null payload only opens a connection.</summary>
    private async Task<ReadOnlyMemory<byte>> SendWithFailoverAsync(byte[]? payload, bool retryAfterLoss, CancellationToken cancellationToken)
    {
        var start = Interlocked.Increment(ref _next);
        var now = _options.TimeProvider.GetTimestamp();
        Exception? last = null;
        // Gateways marked down are tried last, not never: all of them may have come back.
        var order = Enumerable.Range(0, _gateways.Count).Select(i => (int)((uint)(start + i) % _gateways.Count))
            .OrderBy(i => Volatile.Read(ref _downUntil[i]) > now ? 1 : 0).ToList();
        foreach (var index in order)
        {
            FrameConnection connection;
            try
            {
                connection = await _connections.GetAsync(_gateways[index]).ConfigureAwait(false);
            }
            catch (ClusterAuthenticationException)
            {
                throw;
            }
            catch (Exception exception)
            {
                Volatile.Write(ref _downUntil[index], _options.TimeProvider.GetTimestamp() + (long)(_options.GatewayRetryDelay.TotalSeconds * _options.TimeProvider.TimestampFrequency));
                last = exception;
                continue;
            }

            if (payload is null)
            {
                return ReadOnlyMemory<byte>.Empty;
            }

            try
            {
                return await connection.SendRequestAsync(payload, cancellationToken, _options.ResponseTimeout).ConfigureAwait(false);
            }
            catch (ConnectionLostException exception) when (retryAfterLoss)
            {
                last = exception;
            }
        }

        throw new SiloUnavailableException(
            $"No gateway of {string.Join(", ", _gateways)} answered{(last is null ? "" : $" (last error: {last.Message})")}; the call was not delivered.", last);
    }

    public ValueTask DisposeAsync() => _connections.DisposeAsync();

    private sealed class EmptyServiceProvider : IServiceProvider
    {
        public static readonly EmptyServiceProvider Instance = new();

        public object? GetService(Type serviceType) => null;
    }
}
