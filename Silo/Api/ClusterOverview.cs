using Analytics.Events;
using Analytics.Silo.Hosting;
using Analytics.Streaming;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService.SiloMetadata;
using static Analytics.Silo.Api.ClusterEndpoints;

namespace Analytics.Silo.Api;

/// <summary>
/// Builds GET /api/cluster from Orleans' own management grain: the membership rows, and for each
/// live silo the figures only that silo knows (activations, the queues it reads, their iterator
/// age, its messages), fetched from its own /api/cluster/self (its address is in the silo
/// metadata) in parallel. A silo that does not answer within the time limit is listed with an
/// error instead of holding the page up.
/// </summary>
public sealed class ClusterOverview(
    IGrainFactory grains,
    IClusterMembershipService membership,
    ILocalSiloDetails local,
    ISiloMetadataCache metadata,
    IOptions<ClusterOptions> cluster,
    QueueStatisticsRegistry queues,
    MessagingCounters messaging,
    IHttpClientFactory http)
{
    public const string HttpClientName = "cluster-peers";

    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(2);

    private IManagementGrain Management => grains.GetGrain<IManagementGrain>(0);

    public async Task<SelfResponse> DescribeSelfAsync()
    {
        var statistics = await Management.GetRuntimeStatistics([local.SiloAddress]);
        return new SelfResponse(
            local.SiloAddress.ToParsableString(),
            statistics.FirstOrDefault()?.ActivationCount ?? 0,
            queues.Active.Select(q => new QueueResponse(
                $"{q.Provider}:{q.Queue}",
                q.Records,
                q.Items,
                q.Committed,
                q.Lag?.TotalMilliseconds,
                q.PoisonRecords,
                q.Dropped)).ToList(),
            new NetworkResponse(messaging.Sent, messaging.Received, 0, 0),
            RuntimeFigures.Read());
    }

    public async Task<ClusterResponse> DescribeAsync(CancellationToken cancellationToken)
    {
        var hosts = await Management.GetDetailedHosts(onlyActive: false);
        var entries = hosts.OrderBy(e => e.SiloName, StringComparer.Ordinal).ThenBy(e => e.StartTime).ToList();
        var figures = await Task.WhenAll(entries.Select(e => FetchAsync(e, cancellationToken)));
        return new ClusterResponse(
            cluster.Value.ClusterId,
            local.SiloAddress.ToParsableString(),
            membership.CurrentSnapshot.Version.Value,
            entries.Select((e, i) => new SiloResponse(
                e.SiloAddress.ToParsableString(),
                e.SiloName,
                e.Status.ToString(),
                MetadataOf(e.SiloAddress).GetValueOrDefault(SiloMetadataKeys.Zone),
                TimestampParser.Format(new DateTimeOffset(e.StartTime, TimeSpan.Zero).ToUnixTimeMilliseconds()),
                TimestampParser.Format(new DateTimeOffset(e.IAmAliveTime, TimeSpan.Zero).ToUnixTimeMilliseconds()),
                e.SiloAddress.Equals(local.SiloAddress),
                figures[i].Self?.ActivationCount,
                figures[i].Self?.Queues,
                figures[i].Error,
                figures[i].Self?.Network,
                e.ProxyPort > 0 ? $"{e.SiloAddress.Endpoint.Address}:{e.ProxyPort}" : null,
                figures[i].Self?.Runtime)).ToList());
    }

    private IReadOnlyDictionary<string, string> MetadataOf(SiloAddress silo)
    {
        try
        {
            return metadata.GetSiloMetadata(silo).Metadata;
        }
        catch (Exception)
        {
            // A silo that left before its metadata was fetched: list it without.
            return new Dictionary<string, string>();
        }
    }

    private async Task<(SelfResponse? Self, string? Error)> FetchAsync(MembershipEntry entry, CancellationToken cancellationToken)
    {
        if (entry.SiloAddress.Equals(local.SiloAddress))
        {
            return (await DescribeSelfAsync(), null);
        }

        if (entry.Status is SiloStatus.Dead or SiloStatus.None)
        {
            return (null, null);
        }

        if (!MetadataOf(entry.SiloAddress).TryGetValue(SiloMetadataKeys.Http, out var baseUrl))
        {
            return (null, "the silo publishes no HTTP endpoint");
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(PeerTimeout);
            var client = http.CreateClient(HttpClientName);
            var self = await client.GetFromJsonAsync<SelfResponse>(new Uri(new Uri(baseUrl), "/api/cluster/self"), ApiJson.Options, timeout.Token);
            return self is not null && self.Address == entry.SiloAddress.ToParsableString()
                ? (self, null)
                : (null, $"{baseUrl} is now another silo ({self?.Address})");
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
        {
            return (null, $"no answer from {baseUrl} within {PeerTimeout.TotalSeconds:0} s: {exception.Message}");
        }
    }
}
