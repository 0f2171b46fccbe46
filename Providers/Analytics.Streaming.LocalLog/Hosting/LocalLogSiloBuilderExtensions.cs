using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Hosting;

namespace Analytics.Streaming.LocalLog;

public static class LocalLogSiloBuilderExtensions
{
    /// <summary>
    /// The embedded-mode stream provider <paramref name="name"/>: a durable local log whose
    /// appends survive a process kill, one Orleans queue per partition, balanced over the silos
    /// by Orleans' consistent ring (the embedded silo owns them all). Register the application's
    /// page handler (and decoder) under the same name; the ingest path appends through the
    /// <see cref="IQueueWriter"/> keyed by <paramref name="name"/>.
    /// </summary>
    public static ISiloBuilder AddLocalLogStreams(
        this ISiloBuilder builder,
        string name,
        Action<LocalLogOptions> configureLog,
        Action<QueueStreamOptions>? configureStreams = null,
        Action<ISiloPersistentStreamConfigurator>? configureOrleans = null)
    {
        var log = new LocalLogOptions();
        configureLog(log);
        if (log.Validate() is { } error)
        {
            throw new OptionsValidationException(name, typeof(LocalLogOptions), [$"Stream provider '{name}': {error}"]);
        }

        return builder.AddQueueStreams(
            name,
            (sp, providerName) => new LocalLogQueueAdapterFactory(providerName, log, sp, sp.GetService<TimeProvider>() ?? TimeProvider.System),
            configureStreams,
            orleans =>
            {
                orleans.UseConsistentRingQueueBalancer();
                configureOrleans?.Invoke(orleans);
            });
    }
}
