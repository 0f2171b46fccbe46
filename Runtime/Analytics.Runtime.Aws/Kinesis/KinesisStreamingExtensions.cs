using Analytics.Runtime.Hosting;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Aws.Kinesis;

public static class KinesisStreamingExtensions
{
    /// <summary>
    /// A persistent stream provider on a Kinesis stream: one queue per shard. The stream must exist.
    /// Needs a <see cref="KinesisClient"/> in the container (<see cref="KinesisServiceCollectionExtensions.AddKinesisClient"/>).
    /// Checkpoints and dead letters are passed in: the DynamoDB checkpoint and lease table is not built yet.
    /// </summary>
    public static ISiloBuilder AddKinesisStreams(
        this ISiloBuilder builder,
        string providerName,
        KinesisStreamOptions options,
        Func<IServiceProvider, IStreamCheckpointer> checkpointer,
        Func<IServiceProvider, IDeadLetterStore> deadLetters,
        Action<StreamPullingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(checkpointer);
        ArgumentNullException.ThrowIfNull(deadLetters);
        if (options.Validate() is { } error)
        {
            // Fail at configuration, as the local log does, rather than on the first read.
            throw new OptionsValidationException(providerName, typeof(KinesisStreamOptions), [$"Kinesis stream provider '{providerName}': {error}"]);
        }

        return builder.AddStreamProvider(providerName, configure, sp => (
            new KinesisQueueAdapter(
                providerName,
                sp.GetRequiredService<KinesisClient>(),
                options,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILoggerFactory>()),
            checkpointer(sp),
            deadLetters(sp)));
    }
}
