using Analytics.Aws.Kinesis;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.Leases;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Aws.Kinesis;

public static class KinesisStreamingExtensions
{
    /// <summary>
    /// A persistent stream provider on a Kinesis stream: one queue per shard, balanced across silos
    /// through a lease table that also holds each shard's checkpoint (DynamoDB in production, see
    /// <c>DynamoDBQueueLeaseTable</c>; <see cref="MemoryQueueLeaseTable"/> in test clusters). A child
    /// shard is read only after its parents ended. The stream must exist. Needs a
    /// <see cref="KinesisClient"/> in the container (<see cref="KinesisServiceCollectionExtensions.AddKinesisClient"/>).
    /// </summary>
    public static ISiloBuilder AddKinesisStreams(
        this ISiloBuilder builder,
        string providerName,
        KinesisStreamOptions options,
        Func<IServiceProvider, IQueueLeaseTable> leases,
        Func<IServiceProvider, IDeadLetterStore> deadLetters,
        Action<StreamPullingOptions>? configure = null,
        Action<LeaseBalancerOptions>? configureLeases = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(leases);
        ArgumentNullException.ThrowIfNull(deadLetters);
        if (options.Validate() is { } error)
        {
            // Fail at configuration, as the local log does, rather than on the first read.
            throw new OptionsValidationException(providerName, typeof(KinesisStreamOptions), [$"Kinesis stream provider '{providerName}': {error}"]);
        }

        builder.UseLeaseBalancing(providerName, leases, configureLeases);
        return builder.AddStreamProvider(providerName, configure, sp => (
            new KinesisQueueAdapter(
                providerName,
                sp.GetRequiredService<KinesisClient>(),
                options,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILoggerFactory>()),
            new LeaseOnlyCheckpointer(providerName),
            deadLetters(sp)));
    }
}
