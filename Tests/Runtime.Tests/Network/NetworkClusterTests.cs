using System.Net.Sockets;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Runtime.Tests.Network;

/// <summary>
/// Silos that talk over loopback TCP (the network transport) instead of the in-process network,
/// reached by a client through their gateways. Membership is still the test cluster's shared
/// in-memory table; the DynamoDB table has its own conformance tests.
/// </summary>
public sealed class NetworkClusterTests
{
    private const string Secret = "network-cluster-test-secret";

    [Fact]
    public async Task Calls_cross_silos_over_the_network_with_results_state_and_exceptions()
    {
        await using var cluster = await StartAsync(silos: 3);
        await using var client = Client(cluster);
        var grains = Enumerable.Range(0, 40).Select(i => client.GetGrain<ICounterGrain>($"net-{i}")).ToList();
        foreach (var grain in grains)
        {
            Assert.Equal(5, await grain.Add(5));
            Assert.Equal(12, await grain.Add(7));
        }

        // Spread over all three silos, so most calls went gateway -> owner over a second hop.
        var homes = new HashSet<string>();
        foreach (var grain in grains)
        {
            homes.Add(await grain.WhereAmI());
        }

        Assert.Equal(cluster.Silos.Select(s => s.Address.ToString()).ToHashSet(), homes);
        Assert.Equal("héllo ✓", await grains[0].Echo("héllo ✓"));
        await grains[0].Touch();

        // The grain's exception type and message come back through two hops.
        var error = await Assert.ThrowsAsync<ArgumentException>(() => grains[1].Fail("boom over the wire"));
        Assert.Equal("boom over the wire", error.Message);
        Assert.True(error.Data.Contains("RemoteStackTrace"));

        var sent = cluster.Silos.Sum(s => s.Services.GetRequiredService<NetworkMessageTransport>().Statistics.Sent);
        var fromClients = cluster.Silos.Sum(s => s.Services.GetRequiredService<NetworkMessageTransport>().Statistics.FromClients);
        Assert.True(fromClients >= 40 * 3, $"{fromClients} client requests");
        Assert.True(sent > 0, "some calls went silo to silo");
    }

    [Fact]
    public async Task Stream_deliveries_reach_grains_on_other_silos_exactly_once()
    {
        await using var cluster = await StartAsync(silos: 3);
        await using var client = Client(cluster);
        await StreamTests.ProduceAsync(cluster, 0, 600, keys: 30);
        await Clusters.Eventually(async () =>
        {
            var total = 0;
            for (var k = 0; k < 30; k++)
            {
                total += (await client.GetGrain<ITallyGrain>($"key-{k}").Counts()).Values.Sum();
            }

            return total == 600;
        }, TimeSpan.FromSeconds(30), "all 600 items are counted");
        Assert.Equal(new Dictionary<string, int> { ["v0"] = 20 }, await client.GetGrain<ITallyGrain>("key-0").Counts());
    }

    [Fact]
    public async Task Calls_to_a_killed_silo_fail_fast_then_its_grains_answer_from_another_silo()
    {
        await using var cluster = await StartAsync(silos: 3);
        await using var client = Client(cluster, gatewayOf: 0);
        var grains = Enumerable.Range(0, 30).Select(i => client.GetGrain<ICounterGrain>($"kill-{i}")).ToList();
        foreach (var grain in grains)
        {
            await grain.Add(3);
        }

        var victim = cluster.Silos[2];
        var onVictim = new List<ICounterGrain>();
        foreach (var grain in grains)
        {
            if (await grain.WhereAmI() == victim.Address.ToString())
            {
                onVictim.Add(grain);
            }
        }

        Assert.NotEmpty(onVictim);
        await cluster.KillSiloAsync(victim);
        var started = DateTime.UtcNow;
        await Assert.ThrowsAsync<SiloUnavailableException>(() => onVictim[0].Add(1));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5), "a call to a dead silo fails fast");

        // The survivors probe it, vote it dead, and its grains come back elsewhere from storage.
        await cluster.WaitForLivenessToStabilizeAsync(TimeSpan.FromSeconds(20));
        foreach (var grain in onVictim)
        {
            Assert.NotEqual(victim.Address.ToString(), await grain.WhereAmI());
            Assert.Equal(3, await grain.Get());
        }

        var row = cluster.Silos[0].Services.GetRequiredService<IMembershipViewProvider>().Current.Entries.Single(e => e.Silo == victim.Address);
        Assert.Equal(SiloStatus.Dead, row.Status);
    }

    [Fact]
    public async Task A_client_fails_over_to_the_next_gateway_when_one_is_gone()
    {
        await using var cluster = await StartAsync(silos: 2);
        var dead = TestPorts.FreePort();
        await using var client = new GatewayClusterClient(new GatewayClientOptions
        {
            ClusterSecret = Secret,
            Gateways = [$"127.0.0.1:{dead}", .. cluster.Silos.Select(s => $"127.0.0.1:{Gateway(s)}")],
        });
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(1, await client.GetGrain<ICounterGrain>($"failover-{i}").Add(1));
        }

        await cluster.StopSiloAsync(cluster.Silos[0]);
        await cluster.WaitForLivenessToStabilizeAsync();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(1, await client.GetGrain<ICounterGrain>($"failover-{i}").Get());
        }
    }

    [Fact]
    public async Task A_client_with_the_wrong_cluster_secret_is_refused_and_calls_nothing()
    {
        await using var cluster = await StartAsync(silos: 1);
        await using var intruder = new GatewayClusterClient(new GatewayClientOptions
        {
            ClusterSecret = "not-the-cluster-secret-at-all",
            Gateways = [$"127.0.0.1:{Gateway(cluster.Silos[0])}"],
        });
        await Assert.ThrowsAsync<ClusterAuthenticationException>(() => intruder.ConnectAsync());
        await Assert.ThrowsAsync<ClusterAuthenticationException>(() => intruder.GetGrain<ICounterGrain>("guarded").Add(1));

        await using var noSecret = new GatewayClusterClient(new GatewayClientOptions { Gateways = [$"127.0.0.1:{Gateway(cluster.Silos[0])}"] });
        await Assert.ThrowsAsync<ClusterAuthenticationException>(() => noSecret.GetGrain<ICounterGrain>("guarded").Add(1));

        await using var member = Client(cluster);
        Assert.Equal(0, await member.GetGrain<ICounterGrain>("guarded").Get());
    }

    [Fact]
    public async Task A_silo_restarted_on_the_same_port_refuses_calls_meant_for_its_predecessor()
    {
        await using var cluster = await StartAsync(silos: 1);
        var silo = cluster.Silos[0];
        var transport = silo.Services.GetRequiredService<NetworkMessageTransport>();
        var stale = silo.Address with { Generation = silo.Address.Generation - 1 };
        var error = await Assert.ThrowsAsync<RemoteRequestException>(() => transport.ProbeAsync(stale, CancellationToken.None));
        Assert.Contains("not the generation", error.Message);
        await transport.ProbeAsync(silo.Address, CancellationToken.None);

        // A call fails with SiloUnavailableException, the exception callers retry (a stream agent
        // would otherwise give the delivery up after a few attempts and dead-letter its events).
        var capture = new CapturingGrainCallInvoker();
        _ = capture.References.GetGrain<ICounterGrain>("predecessor").Add(1);
        var (grain, request) = capture.Calls.Single();
        var refused = await Assert.ThrowsAsync<SiloUnavailableException>(() => transport.SendRequest(stale, grain, request, hopCount: 0));
        Assert.Contains("not delivered", refused.Message);
        await transport.SendRequest(silo.Address, grain, request, hopCount: 0);
        Assert.Equal(1, await silo.Services.GetRequiredService<IGrainFactory>().GetGrain<ICounterGrain>("predecessor").Get());
    }

    [Fact]
    public async Task A_call_that_hangs_on_another_silo_times_out_with_the_grain_and_method_named()
    {
        await using var cluster = await StartAsync(silos: 2, responseTimeout: TimeSpan.FromSeconds(1));
        var caller = cluster.Silos[0];
        var factory = caller.Services.GetRequiredService<IGrainFactory>();
        var key = Enumerable.Range(0, 100).Select(i => $"hang-{i}")
            .First(k => Placement.RendezvousHashing.PickOwner(new GrainId(Invocation.GrainTypeNames.ForInterface(typeof(IConcurrencyGrain)), k).StableHash, [.. cluster.Silos.Select(s => s.Address).OrderBy(a => a.ToString(), StringComparer.Ordinal)]) != caller.Address);
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<GrainCallTimeoutException>(() => factory.GetGrain<IConcurrencyGrain>(key).Hang());
        Assert.Contains("IConcurrencyGrain.Hang", error.Message);
        Assert.Contains(key, error.Message);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.True(caller.Services.GetRequiredService<NetworkMessageTransport>().Statistics.Sent >= 1, "the call crossed the network");
    }

    internal static Task<TestCluster> StartAsync(int silos, TimeSpan? responseTimeout = null) =>
        Clusters.StartAsync(
            silos,
            responseTimeout: responseTimeout,
            configure: silo => silo.UseNetworkMessaging(o =>
            {
                o.ClusterSecret = Secret;
                o.ListenAddress = "127.0.0.1";
            }),
            services: s => s.PostConfigure<SiloOptions>(o =>
            {
                o.SiloPort = TestPorts.FreePort();
                o.GatewayPort = TestPorts.FreePort();
            }));

    internal static GatewayClusterClient Client(TestCluster cluster, int? gatewayOf = null) => new(new GatewayClientOptions
    {
        ClusterSecret = Secret,
        Gateways = (gatewayOf is { } only ? [cluster.Silos[only]] : cluster.Silos).Select(s => $"127.0.0.1:{Gateway(s)}").ToList(),
    });

    private static int Gateway(TestSilo silo) => silo.Services.GetRequiredService<NetworkMessageTransport>().GatewayPort;
}
