using Analytics.Events;
using Analytics.Grains.Sources;
using Analytics.Grains.Streaming;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Analytics.Grains;

public static class SiloBuilderExtensions
{
    /// <summary>
    /// Adds the analytics grains: their options (validated at start), their assembly, and the
    /// decoder of the "events" stream provider. The host adds that provider
    /// (<c>AddLocalLogStreams("events", ...)</c>) and the "analytics" grain storage.
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
        builder.AddGrainAssembly(typeof(SourceGrain).Assembly);

        // Stored events are read with the ingest limits widened (ForStoredEvents); the host may
        // register its ingest EventValidationOptions, whose name and id limits then apply.
        builder.AddStreamDecoder(AnalyticsStreams.Provider, sp => new EventRecordDecoder(
            EventValidationOptions.ForStoredEvents(sp.GetService<EventValidationOptions>()),
            sp.GetRequiredService<TimeProvider>()));
        return builder;
    }
}
