using Grains = Analytics.Grains;
using Analytics.Runtime.Messaging.Network;

namespace Analytics.Client.Cluster;

/// <summary>
/// Queries the analytics grains directly, through the gateways of the silos (Gateway:Port), rather
/// than through a silo's HTTP API: for .NET services next to the cluster that want the grains'
/// own result types and one network hop less. Calls rotate over the gateways and move on from one
/// that cannot be reached; all the queries are read-only, so one interrupted mid-way is retried on
/// the next gateway too.
/// </summary>
public sealed class AnalyticsClusterClient : IAsyncDisposable
{
    private readonly GatewayClusterClient _client;

    /// <param name="gateways">host:port of one or more silos' gateways.</param>
    /// <param name="clusterSecret">The silos' Cluster:Secret; a wrong one is refused when connecting.</param>
    /// <param name="tlsThumbprint">
    /// TLS: set when the silos have a Cluster:Tls certificate. The SHA-1 thumbprint of that
    /// certificate (40 hex digits, colons allowed), or several separated by commas while it is being
    /// rotated. The client then connects with TLS and accepts only a gateway presenting one of these
    /// certificates (see <see cref="GatewayClientOptions.UseTls"/>); another certificate fails the
    /// connection with <see cref="ClusterAuthenticationException"/>. Null: no TLS.
    /// </param>
    /// <exception cref="ArgumentException">A gateway is not host:port, or a thumbprint is not 40 hex digits.</exception>
    public AnalyticsClusterClient(IEnumerable<string> gateways, string? clusterSecret, string clusterId = "dev", TimeSpan? responseTimeout = null, string? tlsThumbprint = null)
    {
        var options = new GatewayClientOptions
        {
            Gateways = gateways.ToList(),
            ClusterSecret = clusterSecret,
            ClusterId = clusterId,
            ResponseTimeout = responseTimeout ?? TimeSpan.FromSeconds(30),
        };
        if (!string.IsNullOrWhiteSpace(tlsThumbprint))
        {
            var thumbprints = tlsThumbprint.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            options.UseTls(thumbprints.FirstOrDefault() ?? tlsThumbprint, thumbprints.Skip(1));
        }

        _client = new GatewayClusterClient(options);
    }

    /// <summary>The grain factory, for calling any grain of the cluster.</summary>
    public GatewayClusterClient GrainFactory => _client;

    /// <summary>Connects to one gateway now, so that a wrong address or secret shows before the first query.</summary>
    public Task ConnectAsync(CancellationToken cancellationToken = default) => _client.ConnectAsync(cancellationToken);

    public async Task<IReadOnlyList<string>> ListMetricsAsync() => await _client.GetGrain<Grains.IMetricCatalogGrain>("all").List();

    /// <summary>Null if the metric has never been seen.</summary>
    public Task<Grains.MetricStats?> GetStatsAsync(string metric, TimeSpan window) => _client.GetGrain<Grains.IMetricGrain>(metric).GetStats(window);

    public Task<Grains.TopResult?> GetTopAsync(string metric, TimeSpan window, int k, Grains.TopOrder by) => _client.GetGrain<Grains.IMetricGrain>(metric).GetTop(window, k, by);

    /// <summary>Null if the source has never been seen.</summary>
    public Task<Grains.SourceSummary?> GetSourceAsync(string source, TimeSpan window) => _client.GetGrain<Grains.ISourceGrain>(source).GetSummary(window);

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
