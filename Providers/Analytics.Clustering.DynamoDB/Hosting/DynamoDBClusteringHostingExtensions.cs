using Amazon.DynamoDBv2;
using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Hosting;
using Orleans.Messaging;

namespace Analytics.Clustering.DynamoDB;

public static class DynamoDBClusteringHostingExtensions
{
    /// <summary>
    /// Keeps the silo's cluster membership in DynamoDB (by default the table <c>{DynamoDB:TablePrefix}membership</c>),
    /// under <see cref="Orleans.Configuration.ClusterOptions.ClusterId"/>. The DynamoDB client and settings are the
    /// service's shared ones (<see cref="DynamoDBServiceCollectionExtensions.AddDynamoDB"/>), registered from the
    /// builder's configuration unless the application did so itself. The table is created (or, when creating is
    /// off, checked) when the silo starts joining.
    /// </summary>
    public static ISiloBuilder UseDynamoDBClustering(this ISiloBuilder builder, Action<DynamoDBClusteringOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddShared(builder.Services, builder.Configuration, configure);
        builder.Services.AddSingleton<IMembershipTable, DynamoDBMembershipTable>();
        return builder;
    }

    /// <summary>
    /// Lets the client find its cluster's gateways in the silos' DynamoDB membership table (see the silo's
    /// <see cref="UseDynamoDBClustering(ISiloBuilder, Action{DynamoDBClusteringOptions}?)"/>): same table, same settings.
    /// </summary>
    public static IClientBuilder UseDynamoDBClustering(this IClientBuilder builder, Action<DynamoDBClusteringOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddShared(builder.Services, builder.Configuration, configure);
        builder.Services.AddSingleton<IGatewayListProvider, DynamoDBGatewayListProvider>();
        return builder;
    }

    private static void AddShared(IServiceCollection services, IConfiguration configuration, Action<DynamoDBClusteringOptions>? configure)
    {
        // Calling AddDynamoDB again would bind the configuration over an application's own AddDynamoDB callback.
        if (!services.Any(d => d.ServiceType == typeof(IAmazonDynamoDB)))
        {
            services.AddDynamoDB(configuration);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DynamoDBClusteringOptions>, DynamoDBClusteringOptionsValidator>());
        var options = services.AddOptions<DynamoDBClusteringOptions>().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }
    }
}
