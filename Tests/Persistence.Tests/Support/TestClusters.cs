using Amazon.Runtime;
using Analytics.Aws.DynamoDB;
using Analytics.Aws.Tests;
using Analytics.Persistence.DynamoDB;
using Analytics.Persistence.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Analytics.Persistence.Tests;

/// <summary>
/// One-silo TestClusters on each provider. A configurator is made by the silo with no arguments,
/// so what differs between tests travels as configuration (the cluster builder's properties).
/// </summary>
internal static class TestClusters
{
    /// <summary>Set to "SystemTextJson" to register a serializer under the provider's name.</summary>
    public const string SerializerKey = "Test:Serializer";

    public const string SqliteFileKey = "Test:SqliteFile";

    public static Task<TestCluster> StartDynamoDBAsync(EmulatorHost emulators, string tablePrefix, bool createTables = true) =>
        StartAsync<DynamoDBSilo>(new()
        {
            ["DynamoDB:ServiceUrl"] = emulators.DynamoDbUrl.ToString(),
            ["DynamoDB:TablePrefix"] = tablePrefix,
            ["DynamoDB:CreateTables"] = createTables ? "true" : "false",
            ["AWS:Region"] = EmulatorHost.Region,
        });

    public static Task<TestCluster> StartSqliteAsync(string filePath, string? serializer = null) =>
        StartAsync<SqliteSilo>(new()
        {
            [SqliteFileKey] = filePath,
            [SerializerKey] = serializer ?? "",
        });

    public static IServiceProvider SiloServices(this TestCluster cluster) => cluster.GetSiloServiceProvider((cluster.Primary ?? throw new InvalidOperationException("The cluster has no silo.")).SiloAddress);

    private static async Task<TestCluster> StartAsync<TConfigurator>(Dictionary<string, string> properties)
        where TConfigurator : ISiloConfigurator, new()
    {
        var builder = new TestClusterBuilder(1);
        foreach (var (key, value) in properties)
        {
            builder.Properties[key] = value;
        }

        builder.AddSiloBuilderConfigurator<TConfigurator>();
        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();
            return cluster;
        }
        catch
        {
            // A silo that failed to start may still hold its ports.
            await cluster.DisposeAsync();
            throw;
        }
    }

    public sealed class DynamoDBSilo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            // The app's own registration: client and table settings from configuration.
            silo.Services.AddSingleton<AWSCredentials>(EmulatorHost.Credentials);
            silo.Services.AddDynamoDB(silo.Configuration);
            // Small thresholds, so that the cluster's small states are chunked from their first write.
            silo.AddDynamoDBGrainStorage("analytics", o => (o.InlineThreshold, o.FirstWriteInlineThreshold) = (1024, 1024));
        }
    }

    public sealed class SqliteSilo : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo)
        {
            if (silo.Configuration[SerializerKey] == "SystemTextJson")
            {
                silo.Services.AddKeyedSingleton<IGrainStorageSerializer>("analytics", (sp, _) =>
                    new SystemTextJsonGrainStorageSerializer(Options.Create(new SystemTextJsonGrainStorageSerializerOptions())));
            }

            var path = silo.Configuration[SqliteFileKey]!;
            silo.AddSqliteGrainStorage("analytics", o => o.FilePath = path);
        }
    }
}
