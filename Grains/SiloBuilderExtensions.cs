using Analytics.Events;
using Analytics.Grains.Streaming;
using Analytics.Streaming;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Serialization;

namespace Analytics.Grains;

public static class SiloBuilderExtensions
{
    /// <summary>
    /// Adds the analytics grains: their options (validated at start), the decoder and the page
    /// handler of the "events" stream provider, and the JSON form of <see cref="MetricPartial"/>
    /// on the wire. The host adds that provider (<c>AddLocalLogStreams("events", ...)</c> or
    /// <c>AddKinesisStreams</c>) and the "analytics" grain storage, with
    /// <see cref="Persistence.JsonGrainStateSerializer"/>.
    /// </summary>
    public static ISiloBuilder AddAnalytics(this ISiloBuilder builder, Action<AnalyticsOptions>? configure = null)
    {
        var services = builder.Services;
        var options = services.AddOptions<AnalyticsOptions>().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AnalyticsOptions>, AnalyticsOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<Metrics.LocalMetrics>();
        services.AddSerializer(serializer => serializer.AddJsonSerializer(isSupported: type => type == typeof(MetricPartial)));

        // Stored events are read with the ingest limits widened (ForStoredEvents); the host may
        // register its ingest EventValidationOptions, whose name and id limits then apply.
        builder.AddQueueRecordDecoder(AnalyticsStreams.Provider, sp => new EventRecordDecoder(
            EventValidationOptions.ForStoredEvents(sp.GetService<EventValidationOptions>()),
            sp.GetRequiredService<TimeProvider>()));
        builder.AddQueuePageHandler(AnalyticsStreams.Provider, sp => new AnalyticsPageHandler(sp.GetRequiredService<IOptions<AnalyticsOptions>>()));
        return builder;
    }
}
