using Grains = Analytics.Grains;

namespace Analytics.Client.Cluster;

/// <summary>
/// Queries the analytics grains directly, through the gateways of the silos (Gateway:Port), rather
/// than through a silo's HTTP API: for .NET services next to the cluster that want the grains' own
/// result types and one network hop less. It is an Orleans cluster client
/// (<see cref="IClusterClient"/>) on a static list of gateways: Orleans spreads calls over the
/// gateways it is connected to and moves on from one that went away.
/// </summary>
public sealed class AnalyticsClusterClient : IAsyncDisposable
{
    private readonly ClusterClientHost _host;

    /// <param name="gateways">host:port of one or more silos' gateways.</param>
    /// <param name="clusterSecret">Retired: Orleans has no cluster secret. A non-empty one is ignored with a warning on standard error; use TLS.</param>
    /// <param name="clusterId">The silos' Orleans:ClusterId (formerly Cluster:Id).</param>
    /// <param name="responseTimeout">How long a grain call may take (30 s unless set).</param>
    /// <param name="tlsThumbprint">
    /// TLS: set when the silos use a TLS certificate. Its SHA-1 thumbprint (40 hex digits, colons
    /// allowed), or several separated by commas while it is being rotated. The client then connects
    /// with TLS and accepts only a gateway presenting one of these certificates; another fails the
    /// connection with <see cref="ClusterAuthenticationException"/>. Null: no TLS.
    /// </param>
    /// <exception cref="ArgumentException">A gateway is not host:port, or a thumbprint is not 40 hex digits.</exception>
    public AnalyticsClusterClient(IEnumerable<string> gateways, string? clusterSecret, string clusterId = AnalyticsClusterClientOptions.DefaultClusterId, TimeSpan? responseTimeout = null, string? tlsThumbprint = null)
        : this(new AnalyticsClusterClientOptions
        {
            Gateways = gateways.ToList(),
            ClusterSecret = clusterSecret,
            ClusterId = clusterId,
            ResponseTimeout = responseTimeout ?? TimeSpan.FromSeconds(30),
            TlsThumbprints = TlsCertificatePinning.Split(tlsThumbprint).ToList(),
        })
    {
    }

    /// <exception cref="ArgumentException">No gateway, a gateway that is not host:port, or a thumbprint that is not 40 hex digits.</exception>
    public AnalyticsClusterClient(AnalyticsClusterClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!string.IsNullOrEmpty(options.ClusterSecret))
        {
            (options.Warnings ?? Console.Error).WriteLine(AnalyticsClusterClientOptions.ClusterSecretRetired);
        }

        _host = new ClusterClientHost(options);
    }

    /// <summary>The gateways, as given.</summary>
    public IReadOnlyList<GatewayEndpoint> Gateways => _host.Gateways;

    /// <summary>The grain factory, for calling any grain of the cluster. Connect first (<see cref="ConnectAsync"/>).</summary>
    /// <exception cref="InvalidOperationException">The client has not connected yet.</exception>
    public IGrainFactory GrainFactory => _host.Client ?? throw new InvalidOperationException("The cluster client is not connected yet: await ConnectAsync first.");

    /// <summary>
    /// Connects to the gateways now, so that a wrong address, cluster id or certificate shows
    /// before the first query. The queries connect by themselves when needed.
    /// </summary>
    /// <exception cref="Orleans.Runtime.SiloUnavailableException">No gateway could be reached.</exception>
    /// <exception cref="ClusterAuthenticationException">A gateway's TLS certificate is not pinned, or the gateway refused this client's.</exception>
    public Task ConnectAsync(CancellationToken cancellationToken = default) => _host.ConnectAsync(cancellationToken);

    public async Task<IReadOnlyList<string>> ListMetricsAsync() =>
        await (await ClientAsync().ConfigureAwait(false)).GetGrain<Grains.IMetricCatalogGrain>("all").List().ConfigureAwait(false);

    /// <summary>Null if the metric has never been seen.</summary>
    public async Task<Grains.MetricStats?> GetStatsAsync(string metric, TimeSpan window) =>
        await (await ClientAsync().ConfigureAwait(false)).GetGrain<Grains.IMetricGrain>(metric).GetStats(window).ConfigureAwait(false);

    /// <summary>Null if the metric has never been seen.</summary>
    public async Task<Grains.TopResult?> GetTopAsync(string metric, TimeSpan window, int k, Grains.TopOrder by) =>
        await (await ClientAsync().ConfigureAwait(false)).GetGrain<Grains.IMetricGrain>(metric).GetTop(window, k, by).ConfigureAwait(false);

    /// <summary>Null if the source has never been seen.</summary>
    public async Task<Grains.SourceSummary?> GetSourceAsync(string source, TimeSpan window) =>
        await (await ClientAsync().ConfigureAwait(false)).GetGrain<Grains.ISourceGrain>(source).GetSummary(window).ConfigureAwait(false);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private async Task<IClusterClient> ClientAsync()
    {
        await _host.ConnectAsync(CancellationToken.None).ConfigureAwait(false);
        return _host.Client!;
    }
}
