using Analytics.Aws.DynamoDB;
using Amazon.DynamoDBv2;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Persistence;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Aws.DynamoDB;

public static class DynamoDBGrainStorageExtensions
{
    /// <summary>
    /// Registers a grain storage provider named <paramref name="name"/> on the DynamoDB table
    /// <c>{TablePrefix}grain-state</c>. The client and table settings are the silo's shared ones:
    /// call <see cref="DynamoDBServiceCollectionExtensions.AddDynamoDB"/> (or register an
    /// <see cref="IAmazonDynamoDB"/> and <see cref="DynamoDBOptions"/>) as well. The table is created
    /// at silo start when it is missing (unless DynamoDB:CreateTables is false; then it must exist).
    /// </summary>
    public static ISiloBuilder AddDynamoDBGrainStorage(this ISiloBuilder builder, string name, Action<DynamoDBGrainStorageOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var services = builder.Services;
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DynamoDBGrainStorageOptions>, DynamoDBGrainStorageOptionsValidator>());
        var options = services.AddOptions<DynamoDBGrainStorageOptions>(name);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.AddKeyedSingleton(name, (sp, _) => new DynamoDBGrainStorage(
            name,
            sp.GetRequiredService<IOptionsMonitor<DynamoDBGrainStorageOptions>>().Get(name),
            sp.GetService<IAmazonDynamoDB>() ?? throw new InvalidOperationException(
                $"DynamoDB grain storage '{name}' needs an IAmazonDynamoDB client: call services.AddDynamoDB(configuration) as well."),
            sp.GetRequiredService<IOptions<DynamoDBOptions>>().Value,
            sp.GetRequiredService<ILogger<DynamoDBGrainStorage>>()));
        services.AddKeyedSingleton<IGrainStorage>(name, (sp, key) => sp.GetRequiredKeyedService<DynamoDBGrainStorage>(key));
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => new TableInitializer(sp.GetRequiredKeyedService<DynamoDBGrainStorage>(name)));
        return builder;
    }

    /// <summary>
    /// Creates (or checks) the table before grains can activate, so a missing table or missing
    /// permissions stop the silo at start-up rather than failing the first activation.
    /// </summary>
    private sealed class TableInitializer(DynamoDBGrainStorage storage) : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle) =>
            lifecycle.Subscribe($"{nameof(DynamoDBGrainStorage)}({storage.Name})", ServiceLifecycleStage.RuntimeStorage, storage.InitializeAsync);
    }
}
