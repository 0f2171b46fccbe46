using Analytics.Runtime.Activation;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Messaging;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Placement;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Hosting;

/// <summary>Configures a silo: its providers, options and grain assemblies.</summary>
public interface ISiloBuilder
{
    IServiceCollection Services { get; }

    IConfiguration Configuration { get; }
}

internal sealed class SiloBuilder(IServiceCollection services, IConfiguration configuration) : ISiloBuilder
{
    public IServiceCollection Services { get; } = services;

    public IConfiguration Configuration { get; } = configuration;
}

public static class SiloHostingExtensions
{
    /// <summary>Makes this host a silo. Call once; configure providers in the callback.</summary>
    public static IHostApplicationBuilder UseSilo(this IHostApplicationBuilder builder, Action<ISiloBuilder>? configure = null)
    {
        builder.Services.AddSilo(builder.Configuration, configure);
        return builder;
    }

    public static IServiceCollection AddSilo(this IServiceCollection services, IConfiguration configuration, Action<ISiloBuilder>? configure = null)
    {
        if (services.Any(s => s.ServiceType == typeof(SiloMarker)))
        {
            throw new InvalidOperationException("UseSilo/AddSilo was called twice on the same host.");
        }

        services.AddSingleton<SiloMarker>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<SiloOptions>().ValidateOnStart();
        services.AddOptions<GrainCollectionOptions>().ValidateOnStart();
        services.AddOptions<MessagingOptions>().ValidateOnStart();
        services.AddOptions<MembershipOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<SiloOptions>, SiloOptionsValidator>();
        services.AddSingleton<IValidateOptions<GrainCollectionOptions>, GrainCollectionOptionsValidator>();
        services.AddSingleton<IValidateOptions<MessagingOptions>, MessagingOptionsValidator>();
        services.AddSingleton<IValidateOptions<MembershipOptions>, MembershipOptionsValidator>();

        services.AddSingleton<LocalSiloDetails>();
        services.AddSingleton<SiloLifecycleSubject>();
        services.AddSingleton<GrainClassRegistry>();
        services.AddSingleton<Catalog>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<Catalog>());
        services.AddSingleton<IGrainPlacement, RendezvousGrainPlacement>();
        services.AddSingleton<SiloCallRouter>();
        services.AddSingleton<IGrainCallInvoker>(sp => sp.GetRequiredService<SiloCallRouter>());
        services.AddSingleton<IGrainFactory>(sp => sp.GetRequiredService<SiloCallRouter>().References);

        // In-process defaults; a network transport or a DynamoDB membership table replaces them.
        services.TryAddSingleton<InProcessFabric>();
        services.TryAddSingleton<IMembershipTable>(sp => sp.GetRequiredService<InProcessFabric>().MembershipTable);
        services.TryAddSingleton<IMessageTransport>(sp => new InProcessTransport(sp.GetRequiredService<InProcessFabric>().Network));
        services.AddSingleton<MembershipAgent>();
        services.AddSingleton<IMembershipViewProvider>(sp => sp.GetRequiredService<MembershipAgent>());
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<MembershipAgent>());
        services.TryAddSingleton<ISiloProber>(sp => new InProcessSiloProber(sp.GetRequiredService<InProcessFabric>().Network));
        services.AddSingleton<ClusterHealthMonitor>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ClusterHealthMonitor>());
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, InProcessEndpointRegistration>();

        services.AddSingleton<SiloHostedService>();
        services.AddSingleton(sp => new SiloDiagnostics(
            sp.GetRequiredService<Catalog>(), sp.GetRequiredService<IMembershipViewProvider>(), sp.GetRequiredService<LocalSiloDetails>(), sp.GetRequiredService<SiloHostedService>(), sp));
        services.AddHostedService(sp => sp.GetRequiredService<SiloHostedService>());
        configure?.Invoke(new SiloBuilder(services, configuration));
        return services;
    }

    public static ISiloBuilder AddGrainAssembly(this ISiloBuilder builder, System.Reflection.Assembly assembly)
    {
        builder.Services.AddSingleton(new GrainAssembly(assembly));
        return builder;
    }

    public static ISiloBuilder Configure<TOptions>(this ISiloBuilder builder, Action<TOptions> configure)
        where TOptions : class
    {
        builder.Services.Configure(configure);
        return builder;
    }

    public static ISiloBuilder AddMemoryGrainStorage(this ISiloBuilder builder, string name = PersistentStateFactory.DefaultStorageName)
    {
        builder.Services.AddKeyedSingleton<IGrainStorage>(name, (sp, _) =>
            new MemoryGrainStorage(sp.GetRequiredService<InProcessFabric>().GetOrAddShared("storage:" + name, () => new MemoryGrainStorage.Store())));
        return builder;
    }

    public static ISiloBuilder AddSqliteGrainStorage(this ISiloBuilder builder, string name, Action<SqliteGrainStorageOptions> configure)
    {
        var options = new SqliteGrainStorageOptions();
        configure(options);
        if (string.IsNullOrWhiteSpace(options.FilePath) || options.MaxWritesPerCommit < 1)
        {
            throw new OptionsValidationException(name, typeof(SqliteGrainStorageOptions), [$"SQLite grain storage '{name}' needs a file path and MaxWritesPerCommit >= 1."]);
        }

        builder.Services.AddKeyedSingleton<IGrainStorage>(name, (sp, _) => new SqliteGrainStorage(options, sp.GetRequiredService<ILogger<SqliteGrainStorage>>()));
        return builder;
    }

    private sealed class SiloMarker;
}

/// <summary>Puts the silo on the in-process network once it is ready to take calls, and takes it off when it stops.</summary>
internal sealed class InProcessEndpointRegistration(IServiceProvider services, LocalSiloDetails local) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle)
    {
        if (services.GetService<IMessageTransport>() is not InProcessTransport)
        {
            return;
        }

        var network = services.GetRequiredService<InProcessFabric>().Network;
        lifecycle.Subscribe(
            nameof(InProcessEndpointRegistration),
            ServiceLifecycleStage.RuntimeServices,
            _ =>
            {
                network.Register(local.SiloAddress, services.GetRequiredService<SiloCallRouter>());
                return Task.CompletedTask;
            },
            _ =>
            {
                network.Unregister(local.SiloAddress);
                return Task.CompletedTask;
            });
    }
}
