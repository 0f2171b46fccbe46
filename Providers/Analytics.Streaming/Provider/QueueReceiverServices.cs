using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Streaming;

/// <summary>What every receiver of one provider shares: the application's decoder and page handler, options, clock and statistics.</summary>
public sealed class QueueReceiverServices
{
    public QueueReceiverServices(
        string providerName,
        IQueueRecordDecoder decoder,
        IQueuePageHandler pageHandler,
        IGrainFactory grainFactory,
        QueueStreamOptions options,
        TimeProvider time,
        ILoggerFactory loggerFactory,
        QueueStatisticsRegistry statistics)
    {
        if (options.Validate() is { } error)
        {
            throw new OptionsValidationException(providerName, typeof(QueueStreamOptions), [error]);
        }

        ProviderName = providerName;
        Decoder = decoder;
        PageHandler = pageHandler;
        GrainFactory = grainFactory;
        Options = options;
        Time = time;
        LoggerFactory = loggerFactory;
        Statistics = statistics;
    }

    public string ProviderName { get; }

    public IQueueRecordDecoder Decoder { get; }

    public IQueuePageHandler PageHandler { get; }

    public IGrainFactory GrainFactory { get; }

    public QueueStreamOptions Options { get; }

    public TimeProvider Time { get; }

    public ILoggerFactory LoggerFactory { get; }

    public QueueStatisticsRegistry Statistics { get; }

    /// <summary>
    /// The services of provider <paramref name="providerName"/> as registered with
    /// <c>AddQueuePageHandler</c>, <c>AddQueueRecordDecoder</c> and <c>AddQueueStreams</c> (keyed by
    /// the provider's name). A provider without a page handler cannot start: it would not know
    /// what its records mean.
    /// </summary>
    public static QueueReceiverServices Create(IServiceProvider services, string providerName) =>
        new(
            providerName,
            services.GetKeyedService<IQueueRecordDecoder>(providerName) ?? RawRecordDecoder.Instance,
            services.GetKeyedService<IQueuePageHandler>(providerName)
                ?? throw new InvalidOperationException($"Stream provider '{providerName}' has no page handler. Register one with siloBuilder.AddQueuePageHandler(\"{providerName}\", ...)."),
            services.GetRequiredService<IGrainFactory>(),
            services.GetRequiredService<IOptionsMonitor<QueueStreamOptions>>().Get(providerName),
            services.GetService<TimeProvider>() ?? TimeProvider.System,
            services.GetRequiredService<ILoggerFactory>(),
            StartMetrics(services));

    // The meter lives as long as the silo; created with the first receiver, it lists every queue.
    private static QueueStatisticsRegistry StartMetrics(IServiceProvider services)
    {
        services.GetService<StreamMetrics>();
        return services.GetRequiredService<QueueStatisticsRegistry>();
    }
}
