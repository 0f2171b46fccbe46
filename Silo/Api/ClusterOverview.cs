using Analytics.Events;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using static Analytics.Silo.Api.ClusterEndpoints;

namespace Analytics.Silo.Api;

/// <summary>
/// Builds GET /api/cluster: the membership table's rows, and for each live silo the figures only
/// that silo knows (activations, the queues it reads, their iterator age), fetched from its own
/// /api/cluster/self in parallel. A silo that does not answer within the time limit is listed
/// with an error instead of holding the page up.
/// </summary>
internal static class ClusterOverview
{
    public const string HttpClientName = "cluster-peers";
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(2);

    public static SelfResponse DescribeSelf(SiloDiagnostics silo) => new(
        silo.Local.SiloAddress.ToString(),
        silo.ActivationCount,
        silo.Queues.Select(q => new QueueResponse(
            q.Queue.ToString(),
            q.Statistics.Records,
            q.Statistics.Items,
            q.Statistics.Committed?.ToString(),
            q.Statistics.Lag?.TotalMilliseconds,
            q.Statistics.PoisonRecords,
            q.Statistics.Dropped)).ToList(),
        silo.Network is { } network ? new NetworkResponse(network.Sent, network.Received, network.FromClients, network.Probes) : null);

    public static async Task<ClusterResponse> DescribeAsync(SiloDiagnostics silo, IHttpClientFactory http, CancellationToken cancellationToken)
    {
        var view = silo.Membership.Current;
        var entries = view.Entries.OrderBy(e => e.SiloName, StringComparer.Ordinal).ThenBy(e => e.StartTime).ToList();
        var figures = await Task.WhenAll(entries.Select(e => FetchAsync(silo, e, http, cancellationToken)));
        return new ClusterResponse(
            silo.Local.ClusterId,
            silo.Local.SiloAddress.ToString(),
            view.Version,
            entries.Select((e, i) => new SiloResponse(
                e.Silo.ToString(),
                e.SiloName,
                e.Status.ToString(),
                e.Zone,
                TimestampParser.Format(e.StartTime.ToUnixTimeMilliseconds()),
                TimestampParser.Format(e.IAmAliveTime.ToUnixTimeMilliseconds()),
                e.Silo == silo.Local.SiloAddress,
                figures[i].Self?.ActivationCount,
                figures[i].Self?.Queues,
                figures[i].Error,
                figures[i].Self?.Network,
                e.Endpoints.GetValueOrDefault("gateway"))).ToList());
    }

    private static async Task<(SelfResponse? Self, string? Error)> FetchAsync(SiloDiagnostics silo, MembershipEntry entry, IHttpClientFactory http, CancellationToken cancellationToken)
    {
        if (entry.Silo == silo.Local.SiloAddress)
        {
            return (DescribeSelf(silo), null);
        }

        if (entry.Status is SiloStatus.Dead or SiloStatus.None)
        {
            return (null, null);
        }

        if (!entry.Endpoints.TryGetValue("http", out var baseUrl))
        {
            return (null, "the silo publishes no HTTP endpoint");
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(PeerTimeout);
            var client = http.CreateClient(HttpClientName);
            var self = await client.GetFromJsonAsync<SelfResponse>(new Uri(new Uri(baseUrl), "/api/cluster/self"), ApiJson.Options, timeout.Token);
            return self is not null && self.Address == entry.Silo.ToString()
                ? (self, null)
                : (null, $"{baseUrl} is now another silo ({self?.Address})");
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
        {
            return (null, $"no answer from {baseUrl} within {PeerTimeout.TotalSeconds:0} s: {exception.Message}");
        }
    }
}
