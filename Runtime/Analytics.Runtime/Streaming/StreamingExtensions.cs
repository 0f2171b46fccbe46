using Analytics.Runtime.Hosting;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Streaming.Leases;
using Analytics.Runtime.Streaming.LocalLog;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Streaming;

public static class StreamingExtensions
{
    /// <summary>Streams in memory, shared by the silos of a test cluster.</summary>
    public static ISiloBuilder AddMemoryStreams(this ISiloBuilder builder, string name, int queueCount = 4, Action<StreamPullingOptions>? configure = null)
    {
        if (queueCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(queueCount), queueCount, "A stream provider needs at least one queue.");
        }

        return builder.AddStreamProvider(name, configure, sp =>
        {
            var store = sp.GetRequiredService<InProcessFabric>().GetOrAddShared("streams:" + name, () => new MemoryQueueAdapter.Store());
            var deadLetters = sp.GetRequiredService<InProcessFabric>().GetOrAddShared("dead-letters:" + name, () => new MemoryDeadLetterStore());
            return (new MemoryQueueAdapter(name, queueCount, store), new MemoryCheckpointer(store), deadLetters);
        });
    }

    /// <summary>The embedded default: a durable local log whose appends survive a process kill.</summary>
    public static ISiloBuilder AddLocalLogStreams(this ISiloBuilder builder, string name, LocalLogOptions logOptions, Action<StreamPullingOptions>? configure = null)
    {
        if (logOptions.Validate() is { } error)
        {
            throw new OptionsValidationException(name, typeof(LocalLogOptions), [error]);
        }

        return builder.AddStreamProvider(name, configure, sp =>
        {
            var metadata = new LocalLogMetadataStore(logOptions);
            return (new LocalLogQueueAdapter(name, logOptions, sp.GetRequiredService<TimeProvider>()), metadata, metadata);
        });
    }

    /// <summary>Registers a provider from its parts: how the others (Kinesis) plug in.</summary>
    public static ISiloBuilder AddStreamProvider(
        this ISiloBuilder builder,
        string name,
        Action<StreamPullingOptions>? configure,
        Func<IServiceProvider, (IQueueAdapter Adapter, IStreamCheckpointer Checkpointer, IDeadLetterStore DeadLetters)> factory)
    {
        var services = builder.Services;
        services.TryAddSingleton<ImplicitSubscriptions>();
        services.TryAddSingleton(sp => new StreamMetrics(sp, sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<IValidateOptions<StreamPullingOptions>, StreamPullingOptionsValidator>();
        var options = services.AddOptions<StreamPullingOptions>(name).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddKeyedSingleton(name, (sp, _) =>
        {
            var (adapter, checkpointer, deadLetters) = factory(sp);
            // The metrics live as long as the silo; created with the first provider, they list them all.
            sp.GetRequiredService<StreamMetrics>();
            return new StreamProviderRuntime(
                name,
                adapter,
                checkpointer,
                sp.GetKeyedService<IStreamRecordDecoder>(name) ?? new RawBytesDecoder(),
                deadLetters,
                sp.GetRequiredService<IOptionsMonitor<StreamPullingOptions>>().Get(name),
                sp.GetRequiredService<ImplicitSubscriptions>(),
                sp.GetRequiredService<TimeProvider>());
        });
        services.AddKeyedSingleton<IStreamProvider>(name, (sp, key) => sp.GetRequiredKeyedService<StreamProviderRuntime>(key));
        services.AddKeyedSingleton<IQueueBalancer>(name, (sp, key) =>
        {
            var runtime = sp.GetRequiredKeyedService<StreamProviderRuntime>(key);
            var agents = new PullingAgentSet(runtime, sp.GetRequiredService<IGrainCallInvoker>(), sp.GetRequiredService<ILoggerFactory>());
            return sp.GetKeyedService<IQueueLeaseTable>(key) is { } leases
                ? new LeaseQueueBalancer(
                    runtime,
                    agents,
                    leases,
                    sp.GetRequiredService<IOptionsMonitor<LeaseBalancerOptions>>().Get(name),
                    sp.GetRequiredService<LocalSiloDetails>(),
                    sp.GetRequiredService<ILogger<LeaseQueueBalancer>>(),
                    sp.GetRequiredService<IMembershipViewProvider>())
                : new StreamQueueBalancer(runtime, agents, sp.GetRequiredService<IMembershipViewProvider>(), sp.GetRequiredService<ILogger<StreamQueueBalancer>>());
        });
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredKeyedService<IQueueBalancer>(name));
        services.AddSingleton(new StreamProviderName(name));
        return builder;
    }

    /// <summary>
    /// Balances the provider's queues through a lease table (Kinesis Client Library style) instead
    /// of rendezvous hashing over the membership view: checkpoints then live in the lease rows,
    /// written only by the lease's owner, and closed queues hand over to the queues continuing them.
    /// </summary>
    public static ISiloBuilder UseLeaseBalancing(this ISiloBuilder builder, string providerName, Func<IServiceProvider, IQueueLeaseTable> leases, Action<LeaseBalancerOptions>? configure = null)
    {
        var services = builder.Services;
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LeaseBalancerOptions>, LeaseBalancerOptionsValidator>());
        var options = services.AddOptions<LeaseBalancerOptions>(providerName).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddKeyedSingleton(providerName, (sp, _) => leases(sp));
        return builder;
    }

    /// <summary>Decodes the provider's records (for example JSON events) into items for subscribers.</summary>
    public static ISiloBuilder AddStreamDecoder(this ISiloBuilder builder, string providerName, Func<IServiceProvider, IStreamRecordDecoder> factory)
    {
        builder.Services.AddKeyedSingleton(providerName, (sp, _) => factory(sp));
        return builder;
    }

    public static IStreamProvider GetStreamProvider(this IServiceProvider services, string name) =>
        services.GetKeyedService<IStreamProvider>(name)
            ?? throw new InvalidOperationException($"No stream provider named '{name}' is registered. Add it with AddMemoryStreams, AddLocalLogStreams or AddKinesisStreams.");

    /// <summary>Pulling statistics of every queue this silo reads, per provider.</summary>
    public static IEnumerable<(string Provider, QueueId Queue, QueueAgentStatistics Statistics)> GetPullingAgents(this IServiceProvider services) =>
        services.GetServices<StreamProviderName>().SelectMany(p =>
            services.GetRequiredKeyedService<IQueueBalancer>(p.Name).Agents.Select(a => (p.Name, a.Queue, a.Statistics)));
}

/// <summary>Lists registered providers, so that diagnostics can enumerate them.</summary>
public sealed record StreamProviderName(string Name);
