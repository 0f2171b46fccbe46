using System.Text.RegularExpressions;
using Amazon.Runtime;
using Analytics.Aws.DynamoDB;
using Analytics.Clustering.DynamoDB;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Messaging;

namespace Analytics.Clustering.Tests;

/// <summary>Registration, options and the table's description: nothing here talks to DynamoDB.</summary>
public sealed partial class HostingTests
{
    [Fact]
    public void A_silo_gets_the_DynamoDB_table_for_its_cluster_with_the_shared_table_prefix()
    {
        using var host = SiloHost(new() { ["DynamoDB:TablePrefix"] = "analytics-staging-" }, sb => sb.UseDynamoDBClustering());

        var table = Assert.IsType<DynamoDBMembershipTable>(host.Services.GetRequiredService<IMembershipTable>());
        Assert.Equal("c1", table.ClusterId);
        Assert.Equal("analytics-staging-membership", table.TableName);
    }

    [Fact]
    public void The_clustering_options_override_the_table_name_and_leave_an_applications_own_DynamoDB_settings_alone()
    {
        using var host = SiloHost(new() { ["DynamoDB:ServiceUrl"] = "http://127.0.0.1:1" }, sb =>
        {
            sb.Services.AddDynamoDB(sb.Configuration, o => o.ServiceUrl = "http://127.0.0.1:2");
            sb.UseDynamoDBClustering(o => o.TableName = "shared-members");
        });

        Assert.Equal("shared-members", Assert.IsType<DynamoDBMembershipTable>(host.Services.GetRequiredService<IMembershipTable>()).TableName);
        Assert.Equal("http://127.0.0.1:2", host.Services.GetRequiredService<IOptions<DynamoDBOptions>>().Value.ServiceUrl);
    }

    [Fact]
    public void A_client_gets_the_gateway_list_of_its_cluster_from_the_same_table()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["DynamoDB:TablePrefix"] = "analytics-staging-" });
        builder.Services.AddSingleton<AWSCredentials>(new BasicAWSCredentials("unused", "unused"));
        builder.UseOrleansClient(c => c.Configure<ClusterOptions>(o => o.ClusterId = "c1").Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(7)).UseDynamoDBClustering());
        using var host = builder.Build();

        var gateways = Assert.IsType<DynamoDBGatewayListProvider>(host.Services.GetRequiredService<IGatewayListProvider>());
        Assert.Equal("c1", gateways.ClusterId);
        Assert.Equal("analytics-staging-membership", gateways.TableName);
        Assert.Equal(TimeSpan.FromSeconds(7), gateways.MaxStaleness);
    }

    [Theory]
    [InlineData("ab", "must be 3 to 255 characters long")]
    [InlineData("members table", "may hold only a-z, A-Z, 0-9")]
    public async Task A_bad_table_name_stops_the_host_at_start_with_a_clear_message(string tableName, string expected)
    {
        using var host = SiloHost([], sb => sb.UseDynamoDBClustering(o => o.TableName = tableName));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains($"DynamoDB clustering: TableName '{tableName}' {expected}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_validator_names_a_missing_cluster_id_and_a_bad_derived_table_name()
    {
        var validator = new DynamoDBClusteringOptionsValidator(
            Options.Create(new DynamoDBOptions { TablePrefix = new string('p', 250) }),
            Options.Create(new ClusterOptions { ClusterId = "" }));

        var result = validator.Validate(null, new DynamoDBClusteringOptions());

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("derived from DynamoDB:TablePrefix", StringComparison.Ordinal) && f.Contains("255", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("ClusterOptions.ClusterId must be set", StringComparison.Ordinal));
        Assert.True(validator.Validate(null, new DynamoDBClusteringOptions { TableName = "ok-name" }).Failures!.Count() == 1);
        Assert.Contains(
            validator.Validate(null, new DynamoDBClusteringOptions { TableName = "ok-name", OperationTimeout = TimeSpan.Zero }).Failures!,
            f => f.Contains("OperationTimeout must be positive", StringComparison.Ordinal));
    }

    [Fact]
    public void The_table_spec_is_the_membership_table_deploy_creates()
    {
        // deploy/Components/SiloTables.cs: Membership = ("membership", partition key "cluster", sort key "rowKey").
        var spec = DynamoDBMembershipTable.TableSpecFor(new DynamoDBOptions { TablePrefix = "analytics-prod-" });

        Assert.Equal(new DynamoDBTableSpec("analytics-prod-membership", "cluster", "rowKey"), spec);
        Assert.Equal("x-y", DynamoDBMembershipTable.TableSpecFor(new DynamoDBOptions(), new DynamoDBClusteringOptions { TableName = "x-y" }).Name);
    }

    [Fact]
    public void The_provider_calls_only_what_the_task_role_may_call_on_the_membership_table()
    {
        // deploy/Components/SiloTables.cs grants the membership table exactly these (plus DescribeTable, used by DynamoDBTables).
        string[] granted = ["DeleteItem", "DescribeTable", "GetItem", "PutItem", "Query", "UpdateItem"];
        var folder = Path.Combine(RepositoryRoot(), "Providers", "Analytics.Clustering.DynamoDB");
        var calls = Directory.GetFiles(folder, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => ClientCall().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            .ToHashSet();

        Assert.Equal(["DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"], calls.Order());
        Assert.Subset(granted.ToHashSet(), calls);
    }

    [GeneratedRegex(@"_client\.(\w+)Async\(")]
    private static partial Regex ClientCall();

    private static IHost SiloHost(Dictionary<string, string?> configuration, Action<Orleans.Hosting.ISiloBuilder> configure)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Services.AddSingleton<AWSCredentials>(new BasicAWSCredentials("unused", "unused"));
        builder.UseOrleans(sb =>
        {
            sb.Configure<ClusterOptions>(o => o.ClusterId = "c1");
            configure(sb);
        });
        return builder.Build();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Orleans.sln was not found above {AppContext.BaseDirectory}.");
    }
}
