using Amazon.DynamoDBv2;
using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace Analytics.Persistence.DynamoDB;

public static class DynamoDBGrainStorageExtensions
{
    /// <summary>Registers the DynamoDB grain storage as the silo's default provider (for <c>[PersistentState]</c> without a provider name).</summary>
    public static ISiloBuilder AddDynamoDBGrainStorageAsDefault(this ISiloBuilder builder, Action<DynamoDBGrainStorageOptions>? configure = null) =>
        builder.AddDynamoDBGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, configure);

    /// <summary>
    /// Registers a grain storage provider named <paramref name="name"/> on the DynamoDB table
    /// <c>{TablePrefix}{TableSuffix}</c>. The client and table settings are the silo's shared ones:
    /// call <see cref="DynamoDBServiceCollectionExtensions.AddDynamoDB"/> (or register an
    /// <see cref="IAmazonDynamoDB"/> and configure <see cref="DynamoDBOptions"/>) as well. The table is
    /// created at silo start when it is missing, unless DynamoDB:CreateTables is false; then it must exist.
    /// </summary>
    public static ISiloBuilder AddDynamoDBGrainStorage(this ISiloBuilder builder, string name, Action<DynamoDBGrainStorageOptions>? configure = null)
    {
        builder.Services.AddDynamoDBGrainStorage(name, configure);
        return builder;
    }

    /// <summary>
    /// As <see cref="AddDynamoDBGrainStorage(ISiloBuilder, string, Action{DynamoDBGrainStorageOptions}?)"/>.
    /// To bind the options from configuration, add to the named options:
    /// <c>services.AddOptions&lt;DynamoDBGrainStorageOptions&gt;(name).BindConfiguration("Storage")</c>.
    /// </summary>
    public static IServiceCollection AddDynamoDBGrainStorage(this IServiceCollection services, string name, Action<DynamoDBGrainStorageOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var options = services.AddOptions<DynamoDBGrainStorageOptions>(name);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        // Fills in GrainStorageSerializer when the host did not: the serializer registered under
        // this provider's name, else the silo's default IGrainStorageSerializer.
        services.AddTransient<IPostConfigureOptions<DynamoDBGrainStorageOptions>, DefaultStorageProviderSerializerOptionsConfigurator<DynamoDBGrainStorageOptions>>();
        services.AddTransient<IConfigurationValidator>(sp => new DynamoDBGrainStorageOptionsValidator(
            sp.GetRequiredService<IOptionsMonitor<DynamoDBGrainStorageOptions>>().Get(name),
            sp.GetRequiredService<IOptions<DynamoDBOptions>>().Value,
            name));
        services.ConfigureNamedOptionForLogging<DynamoDBGrainStorageOptions>(name);
        return services.AddGrainStorage(name, Create);
    }

    private static DynamoDBGrainStorage Create(IServiceProvider services, string name) => new(
        name,
        services.GetRequiredService<IOptionsMonitor<DynamoDBGrainStorageOptions>>().Get(name),
        services.GetService<IAmazonDynamoDB>() ?? throw new InvalidOperationException(
            $"DynamoDB grain storage '{name}' needs an IAmazonDynamoDB client: call services.AddDynamoDB(configuration) as well."),
        services.GetRequiredService<IOptions<DynamoDBOptions>>().Value,
        services.GetRequiredService<IActivatorProvider>(),
        services.GetRequiredService<ILogger<DynamoDBGrainStorage>>(),
        services.GetService<TimeProvider>());
}
