using System.Net;
using Amazon.DynamoDBv2;
using Analytics.Aws.Tests;
using Orleans;
using Orleans.Runtime;
using static Analytics.Clustering.Tests.DynamoDBTestSupport;

namespace Analytics.Clustering.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class DynamoDBGatewayListProviderTests(EmulatorHost emulators) : IDisposable
{
    private static readonly string SharedPrefix = EmulatorHost.UniqueName("gateways") + "-";
    private static readonly DateTime T0 = new(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc);

    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();
    private readonly string _clusterId = EmulatorHost.UniqueName("cluster");

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task The_gateways_are_the_active_silos_of_the_cluster_that_have_a_gateway_port()
    {
        var table = Table(_client, _clusterId, SharedPrefix);
        await table.InitializeMembershipTableAsync(true, default);
        var other = Table(_client, EmulatorHost.UniqueName("cluster"), SharedPrefix);
        await Insert(table, Silo(1, 11111), SiloStatus.Active, proxyPort: 30001);
        await Insert(table, Silo(2, 11112), SiloStatus.Active, proxyPort: 30002);
        await Insert(table, Silo(3, 11113), SiloStatus.Active, proxyPort: 0); // no gateway
        await Insert(table, Silo(4, 11114), SiloStatus.Joining, proxyPort: 30004);
        await Insert(table, Silo(5, 11115), SiloStatus.Dead, proxyPort: 30005);
        await Insert(other, Silo(6, 11116), SiloStatus.Active, proxyPort: 30006);
        var provider = Gateways(_client, _clusterId, SharedPrefix);
        await provider.InitializeGatewayListProviderAsync(default);

        var gateways = await provider.GetGatewaysAsync(default);

        // The silo's address, its gateway port, and its generation, as Orleans writes gateway URIs.
        Assert.Equal(
            [new Uri("gwy.tcp://10.0.0.1:30001/1001"), new Uri("gwy.tcp://10.0.0.2:30002/1002")],
            gateways.OrderBy(u => u.ToString(), StringComparer.Ordinal));
        Assert.Contains(SiloAddress.New(IPAddress.Parse("10.0.0.1"), 30001, 1001).ToGatewayUri(), gateways);
    }

    [Fact]
    public async Task A_silo_declared_dead_leaves_the_list_at_the_next_refresh()
    {
        var table = Table(_client, _clusterId, SharedPrefix);
        await Insert(table, Silo(1, 11111), SiloStatus.Active, proxyPort: 30001);
        await Insert(table, Silo(2, 11112), SiloStatus.Active, proxyPort: 30002);
        var provider = Gateways(_client, _clusterId, SharedPrefix, refresh: TimeSpan.FromSeconds(3));
        Assert.Equal(2, (await provider.GetGatewaysAsync(default)).Count);

        var snapshot = await table.ReadAllAsync(default);
        var (entry, etag) = snapshot.Members.Single(m => m.Item1.SiloAddress.Endpoint.Port == 11111);
        entry.Status = SiloStatus.Dead;
        Assert.True(await table.UpdateRowAsync(entry, etag, snapshot.Version.Next(), default));

        Assert.Equal([new Uri("gwy.tcp://10.0.0.2:30002/1002")], await provider.GetGatewaysAsync(default));
        Assert.True(provider.IsUpdatable);
        Assert.Equal(TimeSpan.FromSeconds(3), provider.MaxStaleness);
    }

    [Fact]
    public async Task A_cluster_with_no_rows_has_no_gateways()
    {
        var provider = Gateways(_client, EmulatorHost.UniqueName("cluster"), SharedPrefix);
        await provider.InitializeGatewayListProviderAsync(default);

        Assert.Empty(await provider.GetGatewaysAsync(default));
    }

    private static SiloAddress Silo(int n, int port) => SiloAddress.New(IPAddress.Parse($"10.0.0.{n}"), port, 1000 + n);

    private static async Task Insert(IMembershipTable table, SiloAddress silo, SiloStatus status, int proxyPort)
    {
        await table.InitializeMembershipTableAsync(true, default);
        var entry = new MembershipEntry { SiloAddress = silo, Status = status, ProxyPort = proxyPort, HostName = "h", SiloName = "s", StartTime = T0, IAmAliveTime = T0 };
        Assert.True(await table.InsertRowAsync(entry, (await table.ReadAllAsync(default)).Version.Next(), default));
    }
}
