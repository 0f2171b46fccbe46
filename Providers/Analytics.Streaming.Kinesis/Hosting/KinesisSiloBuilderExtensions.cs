using Amazon.DynamoDBv2;
using Analytics.Aws.DynamoDB;
using Analytics.Aws.Kinesis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Analytics.Streaming.Kinesis;

public static class KinesisSiloBuilderExtensions
{
    /// <summary>
    /// The AWS-mode stream provider <paramref name="name"/> on a Kinesis stream: one Orleans queue per
    /// shard, balanced over the silos by leases in DynamoDB (<c>{prefix}leases</c>) that also hold each
    /// shard's checkpoint; a child shard is read only after its parents ended. Poison records go to
    /// <c>{prefix}dead-letters</c>. Needs a <see cref="KinesisClient"/> (<c>AddKinesisClient</c>) and
    /// DynamoDB (<c>AddDynamoDB</c>) in the container, and the application's page handler (and
    /// decoder) under the same name; the ingest path appends through the <see cref="IQueueWriter"/>
    /// keyed by <paramref name="name"/>. The stream must exist.
    /// </summary>
    /// <remarks>
    /// Another <see cref="IShardLeaseTable"/> (a <see cref="MemoryShardLeaseTable"/> shared by the silos
    /// of a test) can be registered as a keyed singleton under <paramref name="name"/> beforehand.
    /// </remarks>
    public static ISiloBuilder AddKinesisStreams(
        this ISiloBuilder builder,
        string name,
        Action<KinesisStreamOptions> configureKinesis,
        Action<QueueStreamOptions>? configureStreams = null,
        Action<ISiloPersistentStreamConfigurator>? configureOrleans = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configureKinesis);
        var options = new KinesisStreamOptions();
        configureKinesis(options);
        if (options.Validate() is { } error)
        {
            // Fail at configuration, as the local log does, rather than when the first shard is read.
            throw new OptionsValidationException(name, typeof(KinesisStreamOptions), [$"Kinesis stream provider '{name}': {error}"]);
        }

        var services = builder.Services;
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KinesisStreamOptions>, KinesisStreamOptionsValidator>());
        services.AddOptions<KinesisStreamOptions>(name).Configure(configureKinesis).ValidateOnStart();
        services.AddKeyedSingleton(name, (sp, _) => new KinesisShardDirectory(sp.GetRequiredService<KinesisClient>(), options.StreamName));
        services.TryAddKeyedSingleton<IShardLeaseTable>(name, (sp, _) => new DynamoDBShardLeaseTable(
            sp.GetRequiredService<IAmazonDynamoDB>(),
            sp.GetRequiredService<IOptions<DynamoDBOptions>>().Value,
            options.LeaseGroup ?? $"{sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId}/{name}"));
        services.AddKeyedSingleton(name, (sp, _) => new KinesisQueueBalancer(
            sp,
            name,
            sp.GetRequiredKeyedService<KinesisShardDirectory>(name),
            sp.GetRequiredKeyedService<IShardLeaseTable>(name),
            options,
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetRequiredService<ILogger<KinesisQueueBalancer>>()));

        return builder.AddQueueStreams(
            name,
            (sp, providerName) => new KinesisQueueAdapterFactory(providerName, options, sp),
            configureStreams,
            orleans =>
            {
                orleans.ConfigurePartitionBalancing((sp, providerName) => sp.GetRequiredKeyedService<KinesisQueueBalancer>(providerName));
                configureOrleans?.Invoke(orleans);
            });
    }
}
