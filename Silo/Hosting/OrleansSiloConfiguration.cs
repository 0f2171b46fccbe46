using System.Net;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Analytics.Silo.Hosting;

/// <summary>
/// The contract's cluster keys on Orleans: cluster and service ids, the silo and gateway ports,
/// the advertised address and zone, and failure detection (<c>Membership:*</c>).
/// </summary>
/// <remarks>
/// <c>Cluster:Id</c> became Orleans' own <c>Orleans:ClusterId</c>; the old key still works, with a
/// warning. Orleans' ClusterMembershipOptions defaults take about a minute to declare a killed
/// silo dead; our defaults keep the contract's goal of a few seconds (REFERENCE.md).
/// </remarks>
internal static class OrleansSiloConfiguration
{
    public const string DefaultClusterId = "dev";
    public const string DefaultServiceId = "analytics";

    public static (string ClusterId, string? Warning) ClusterId(IConfiguration configuration)
    {
        if (configuration["Orleans:ClusterId"] is { Length: > 0 } id)
        {
            return (id, null);
        }

        return configuration["Cluster:Id"] is { Length: > 0 } legacy
            ? (legacy, "Cluster:Id is deprecated: use Orleans:ClusterId (Orleans__ClusterId), Orleans' own key. It still works for now.")
            : (DefaultClusterId, null);
    }

    public static void ConfigureCluster(this ISiloBuilder silo, IConfiguration configuration, bool embedded, EcsTaskMetadata? ecsTask)
    {
        var (clusterId, _) = ClusterId(configuration);
        var serviceId = configuration["Orleans:ServiceId"] is { Length: > 0 } s ? s : DefaultServiceId;
        var siloPort = configuration.GetValue("Silo:Port", EndpointOptions.DEFAULT_SILO_PORT);
        var gatewayPort = configuration.GetValue("Gateway:Port", EndpointOptions.DEFAULT_GATEWAY_PORT);
        silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, serviceId));
        silo.Configure<SiloOptions>(o => o.SiloName = configuration["Silo:Name"] ?? $"silo-{Environment.MachineName}-{Environment.ProcessId}");
        if (embedded)
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: serviceId, clusterId: clusterId);
        }
        else
        {
            var advertised = configuration["Silo:AdvertisedHost"] ?? ecsTask?.PrivateIPv4Address;
            var address = advertised is { Length: > 0 } ? ResolveAddress(advertised) : IPAddress.Loopback;
            silo.Configure<EndpointOptions>(o =>
            {
                o.AdvertisedIPAddress = address;
                o.SiloPort = siloPort;
                o.GatewayPort = gatewayPort;
                if (configuration["Silo:ListenAddress"] is { Length: > 0 } listen)
                {
                    var listenAddress = ResolveAddress(listen);
                    o.SiloListeningEndpoint = new IPEndPoint(listenAddress, siloPort);
                    o.GatewayListeningEndpoint = new IPEndPoint(listenAddress, gatewayPort);
                }
            });
        }

        // Orleans' default grain directory is eventually consistent: when a silo dies with part of
        // the directory, a grain can briefly have two activations, and one of them keeps answering
        // queries from the state it loaded (per-source counts that stay behind). The distributed
        // directory is Orleans' strongly consistent one. The stream consumers do not rely on it:
        // they also unmask a stale activation themselves (QueueConsumerGrain).
#pragma warning disable ORLEANSEXP003
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            // A killed silo is declared dead within a few seconds: probes 1 s apart, 2 s each.
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            o.DefunctSiloExpiration = TimeSpan.FromHours(1);
            o.DefunctSiloCleanupPeriod = TimeSpan.FromMinutes(10);
            o.LocalHealthDegradationMonitoringPeriod = TimeSpan.FromSeconds(10);
            // A joining silo first checks that it reaches every active silo whose heartbeat is
            // fresher than IAmAliveTablePublishTimeout x NumMissedTableIAmAliveLimit. A replacement
            // for a killed silo (ECS starts one at once) should not wait long for the dead one's
            // heartbeat to go stale: 3 s, at one heartbeat write per silo every 3 s.
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(3);
            o.NumMissedTableIAmAliveLimit = 1;
            configuration.GetSection("Membership").Bind(o);
        });
    }

    private static IPAddress ResolveAddress(string host) =>
        IPAddress.TryParse(host, out var ip) ? ip
        : Dns.GetHostAddresses(host).FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
          ?? throw new OptionsValidationException("Silo:AdvertisedHost", typeof(EndpointOptions), [$"'{host}' does not resolve to an IPv4 address."]);
}
