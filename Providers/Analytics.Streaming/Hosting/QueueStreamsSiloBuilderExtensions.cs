using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Hosting;
using Orleans.Streams;

namespace Analytics.Streaming;

/// <summary>
/// Registers our persistent stream providers on a silo. A provider is an Orleans persistent
/// stream provider (<c>AddPersistentStreams</c>) whose factory derives from
/// <see cref="CheckpointingQueueAdapterFactory"/>; its application parts (the decoder and the page
/// handler) and its ingest parts (the <see cref="IQueueWriter"/>, the <see cref="IDeadLetterStore"/>)
/// are keyed services under the provider's name.
/// </summary>
public static class QueueStreamsSiloBuilderExtensions
{
    /// <summary>
    /// Adds stream provider <paramref name="name"/> built by <paramref name="factory"/>. Its
    /// subscriptions are implicit only (the consumers subscribe in OnActivateAsync); configure
    /// Orleans' side (pulling agent, balancer) in <paramref name="configureStreams"/>.
    /// </summary>
    public static ISiloBuilder AddQueueStreams<TFactory>(
        this ISiloBuilder builder,
        string name,
        Func<IServiceProvider, string, TFactory> factory,
        Action<QueueStreamOptions>? configureOptions = null,
        Action<ISiloPersistentStreamConfigurator>? configureStreams = null)
        where TFactory : CheckpointingQueueAdapterFactory
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var services = builder.Services;
        services.AddQueueStreamsCore();
        var options = services.AddOptions<QueueStreamOptions>(name).ValidateOnStart();
        if (configureOptions is not null)
        {
            options.Configure(configureOptions);
        }

        services.AddKeyedSingleton(name, (sp, _) => factory(sp, name));
        services.AddKeyedSingleton<CheckpointingQueueAdapterFactory>(name, (sp, key) => sp.GetRequiredKeyedService<TFactory>(key));
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<CheckpointingQueueAdapterFactory>(key).Writer);
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<CheckpointingQueueAdapterFactory>(key).DeadLetters);
        builder.AddPersistentStreams(
            name,
            (sp, providerName) => sp.GetRequiredKeyedService<CheckpointingQueueAdapterFactory>(providerName),
            configurator =>
            {
                configurator.ConfigureStreamPubSub(StreamPubSubType.ImplicitOnly);
                configureStreams?.Invoke(configurator);
            });
        return builder;
    }

    /// <summary>What provider <paramref name="name"/>'s pages mean: the application's direct consumers and publications.</summary>
    public static ISiloBuilder AddQueuePageHandler(this ISiloBuilder builder, string name, Func<IServiceProvider, IQueuePageHandler> factory)
    {
        builder.Services.AddKeyedSingleton(name, (sp, _) => factory(sp));
        return builder;
    }

    /// <summary>How provider <paramref name="name"/>'s records decode into items; without one, each record is one item of raw bytes.</summary>
    public static ISiloBuilder AddQueueRecordDecoder(this ISiloBuilder builder, string name, Func<IServiceProvider, IQueueRecordDecoder> factory)
    {
        builder.Services.AddKeyedSingleton(name, (sp, _) => factory(sp));
        return builder;
    }

    /// <summary>The writer of provider <paramref name="name"/> (the ingest path appends through it).</summary>
    public static IQueueWriter GetQueueWriter(this IServiceProvider services, string name) =>
        services.GetKeyedService<IQueueWriter>(name)
            ?? throw new InvalidOperationException($"No stream provider named '{name}' is registered. Add it with AddLocalLogStreams or AddKinesisStreams.");

    /// <summary>The statistics of every queue this silo reads or has read, per provider.</summary>
    public static QueueStatisticsRegistry GetQueueStatistics(this IServiceProvider services) =>
        services.GetRequiredService<QueueStatisticsRegistry>();

    private static void AddQueueStreamsCore(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<QueueStatisticsRegistry>();
        services.TryAddSingleton(sp => new StreamMetrics(sp.GetRequiredService<QueueStatisticsRegistry>(), sp.GetService<IMeterFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<QueueStreamOptions>, QueueStreamOptionsValidator>());
    }
}
