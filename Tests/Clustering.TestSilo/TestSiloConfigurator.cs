using Amazon.Runtime;
using Analytics.Clustering.DynamoDB;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.TestingHost;

namespace Analytics.Clustering.TestSilo;

/// <summary>
/// Each silo of the test cluster: DynamoDB clustering on dynalite (DynamoDB:ServiceUrl and
/// DynamoDB:TablePrefix come in the cluster's configuration), and failure detection tuned for a test.
/// </summary>
public sealed class TestSiloConfigurator : ISiloConfigurator
{
    /// <summary>The emulator accepts any key.</summary>
    public static AWSCredentials Credentials { get; } = new BasicAWSCredentials("test", "test");

    public void Configure(ISiloBuilder siloBuilder)
    {
        siloBuilder.Services.AddSingleton(Credentials);
        siloBuilder.UseDynamoDBClustering();
        siloBuilder.Configure<ClusterMembershipOptions>(ConfigureFastDetection);
    }

    /// <summary>
    /// Defaults (REFERENCE.md): probes every 5 s (timeout), 3 missed probes to suspect, 2 votes, table re-read
    /// every minute. Here a dead silo (whose port refuses at once) is suspected after 2 probe rounds of 2 s,
    /// and the survivors re-read the table every 2 s rather than wait for gossip alone.
    /// </summary>
    public static void ConfigureFastDetection(ClusterMembershipOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ProbeTimeout = TimeSpan.FromSeconds(2);
        options.NumMissedProbesLimit = 2;
        options.NumVotesForDeathDeclaration = 2;
        options.TableRefreshTimeout = TimeSpan.FromSeconds(2);
        options.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
    }
}
