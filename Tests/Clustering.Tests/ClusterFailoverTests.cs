using System.Diagnostics;
using Amazon.Runtime;
using Analytics.Aws.Tests;
using Analytics.Clustering.DynamoDB;
using Analytics.Clustering.TestSilo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Messaging;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using Orleans.TestingHost;
using Xunit.Abstractions;

namespace Analytics.Clustering.Tests;

/// <summary>
/// A real cluster on the DynamoDB table (dynalite): 3 silos, each a process of its own
/// (<see cref="StandaloneSiloHandle"/>), so that <see cref="TestCluster.KillSiloAsync"/> is a SIGKILL. An
/// in-process silo "killed" still runs its shutdown and writes itself Dead, which would measure nothing.
/// </summary>
[Collection(EmulatorCollection.Name)]
public sealed class ClusterFailoverTests(EmulatorHost emulators, ITestOutputHelper output)
{
    private const int Kills = 3;
    private static readonly TimeSpan DetectionLimit = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan CallRetryLimit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_killed_silo_is_declared_dead_by_the_survivors_within_20_s_and_clients_keep_calling()
    {
        var prefix = EmulatorHost.UniqueName("failover") + "-";
        var builder = new TestClusterBuilder(3);
        builder.Options.UseTestClusterMembership = false;
        builder.Options.ConnectionTransport = ConnectionTransportType.TcpSocket;
        builder.Options.ConfigureFileLogging = false;
        builder.Properties["DynamoDB:ServiceUrl"] = emulators.DynamoDbUrl.ToString();
        builder.Properties["DynamoDB:TablePrefix"] = prefix;
        // TestClusterBuilder adds the distributed grain directory, as production silos do (OrleansSiloConfiguration).
        builder.AddSiloBuilderConfigurator<TestSiloConfigurator>();
        builder.AddClientBuilderConfigurator<TestClientConfigurator>();
        builder.CreateSiloAsync = StandaloneSiloHandle.CreateForAssembly(typeof(TestSiloConfigurator).Assembly);
        await using var cluster = builder.Build();
        var started = Stopwatch.StartNew();
        await cluster.DeployAsync();
        output.WriteLine($"3 silo processes and the client up in {started.Elapsed.TotalSeconds:0.0} s");

        using var dynamoDB = emulators.CreateDynamoDbClient();
        var observer = DynamoDBTestSupport.Table(dynamoDB, cluster.Options.ClusterId, prefix);
        var detections = new List<TimeSpan>();
        try
        {
            for (var kill = 1; kill <= Kills; kill++)
            {
                var grain = cluster.Client.GetGrain<ILocationGrain>(kill);
                var host = await grain.WhereAmI();
                var victim = cluster.Silos.Single(s => s.SiloAddress.ToString() == host);
                var survivors = cluster.Silos.Where(s => s != victim).Select(s => s.SiloAddress).ToList();

                var clock = Stopwatch.StartNew();
                await cluster.KillSiloAsync(victim);
                var dead = await WaitForDeadAsync(observer, victim.SiloAddress);
                detections.Add(clock.Elapsed);
                output.WriteLine($"kill {kill}: {victim.SiloAddress} declared Dead after {clock.Elapsed.TotalSeconds:0.00} s, votes by {string.Join(", ", dead.SuspectTimes?.Select(v => v.Item1) ?? [])}");

                Assert.True(clock.Elapsed < DetectionLimit, $"Declared dead after {clock.Elapsed.TotalSeconds:0.0} s");
                // By the survivors' votes, not by its own shutdown (a killed process writes nothing).
                Assert.NotEmpty(dead.SuspectTimes ?? []);
                Assert.All(dead.SuspectTimes!, v => Assert.Contains(v.Item1, survivors));

                // The grain lived on the dead silo: the next call places it on a survivor.
                var now = await CallWithRetriesAsync(() => grain.WhereAmI(), output);
                output.WriteLine($"  grain answered from {now} at {clock.Elapsed.TotalSeconds:0.00} s");
                Assert.NotEqual(host, now);
                Assert.Contains(now, survivors.Select(s => s.ToString()));

                if (kill < Kills)
                {
                    await cluster.StartAdditionalSiloAsync();
                    await WaitForActiveAsync(observer, 3);
                    output.WriteLine($"  replacement silo Active at {clock.Elapsed.TotalSeconds:0.00} s");
                }
            }

            var sorted = detections.Order().ToList();
            output.WriteLine($"detection: median {sorted[Kills / 2].TotalSeconds:0.00} s, min {sorted[0].TotalSeconds:0.00} s, max {sorted[^1].TotalSeconds:0.00} s");

            // A client that starts now finds only the two live silos as gateways, and calls through them.
            using var client = await StartClientAsync(cluster.Options.ClusterId, prefix, emulators.DynamoDbUrl);
            var gateways = await client.Services.GetRequiredService<IGatewayListProvider>().GetGatewaysAsync(default);
            Assert.Equal(
                cluster.Silos.Select(s => SiloAddress.New(s.GatewayAddress.Endpoint, s.SiloAddress.Generation).ToGatewayUri()).OrderBy(u => u.ToString(), StringComparer.Ordinal),
                gateways.OrderBy(u => u.ToString(), StringComparer.Ordinal));
            var answer = await client.Services.GetRequiredService<IClusterClient>().GetGrain<ILocationGrain>(100).WhereAmI();
            Assert.Contains(answer, cluster.Silos.Select(s => s.SiloAddress.ToString()));
            await client.StopAsync();
            output.WriteLine($"fresh client done at {started.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            // Killed rather than stopped: a graceful stop of each process only costs time here.
            foreach (var silo in cluster.Silos.ToList())
            {
                await cluster.KillSiloAsync(silo);
            }

            output.WriteLine($"silos killed at {started.Elapsed.TotalSeconds:0.0} s");
        }
    }

    private static async Task<MembershipEntry> WaitForDeadAsync(IMembershipTable table, SiloAddress silo)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var row = (await table.ReadRowAsync(silo, default)).Members.Single().Item1;
            if (row.Status == SiloStatus.Dead || deadline.Elapsed > DetectionLimit + TimeSpan.FromSeconds(10))
            {
                return row;
            }

            await Task.Delay(100);
        }
    }

    private static async Task WaitForActiveAsync(IMembershipTable table, int count)
    {
        var deadline = Stopwatch.StartNew();
        while ((await table.ReadAllAsync(default)).Members.Count(m => m.Item1.Status == SiloStatus.Active) < count)
        {
            Assert.True(deadline.Elapsed < DetectionLimit, $"Fewer than {count} silos Active after {DetectionLimit.TotalSeconds} s");
            await Task.Delay(100);
        }
    }

    /// <summary>A call racing the death may fail (the connection to the dead gateway, a stale directory entry): calls time out, Orleans does not retry them.</summary>
    private static async Task<T> CallWithRetriesAsync<T>(Func<Task<T>> call, ITestOutputHelper log)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (e is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException or ConnectionFailedException && deadline.Elapsed < CallRetryLimit)
            {
                log.WriteLine($"  call failed after {deadline.Elapsed.TotalSeconds:0.00} s: {e.GetType().Name}");
                await Task.Delay(200);
            }
        }
    }

    private static async Task<IHost> StartClientAsync(string clusterId, string prefix, Uri dynamoDB)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["DynamoDB:ServiceUrl"] = dynamoDB.ToString(), ["DynamoDB:TablePrefix"] = prefix });
        builder.UseOrleansClient(c =>
        {
            c.Configure<ClusterOptions>(o => o.ClusterId = clusterId);
            TestClientConfigurator.ConfigureClient(c);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}

/// <summary>The test cluster's client, and any other: gateways from the DynamoDB table, refreshed every second.</summary>
public sealed class TestClientConfigurator : IClientBuilderConfigurator
{
    public void Configure(IConfiguration configuration, IClientBuilder clientBuilder) => ConfigureClient(clientBuilder);

    internal static void ConfigureClient(IClientBuilder clientBuilder)
    {
        clientBuilder.Services.AddSingleton<AWSCredentials>(TestSiloConfigurator.Credentials);
        clientBuilder.UseDynamoDBClustering();
        clientBuilder.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));
    }
}
