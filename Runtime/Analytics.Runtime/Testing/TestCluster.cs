using Analytics.Runtime.Activation;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Messaging;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Testing;

public sealed class TestClusterOptions
{
    public int InitialSilos { get; set; } = 2;

    /// <summary>Configures every silo (storage and stream providers, options).</summary>
    public Action<ISiloBuilder>? ConfigureSilo { get; set; }

    /// <summary>Extra services for every silo (a fake TimeProvider, say).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; set; }

    public LogLevel MinimumLogLevel { get; set; } = LogLevel.Warning;

    /// <summary>Response timeout of the silos and of the cluster client.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>One silo of a test cluster.</summary>
public sealed class TestSilo(IHost host, string name)
{
    public IHost Host { get; } = host;

    public string Name { get; } = name;

    public IServiceProvider Services => Host.Services;

    public SiloAddress Address => Services.GetRequiredService<LocalSiloDetails>().SiloAddress;

    public int ActivationCount => Services.GetRequiredService<Catalog>().ActivationCount;

    public bool IsAlive { get; internal set; } = true;

    public override string ToString() => $"{Name} ({Address})";
}

/// <summary>
/// Several silos and a client in one process, over the in-process network and membership table,
/// in the style of Orleans' InProcessTestCluster. Silos can be added, stopped gracefully, or
/// killed: a killed silo stops running and sending anything at once, flushes nothing, and is
/// declared dead by the others when its heartbeat goes stale.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly TestClusterOptions _options;
    private readonly List<TestSilo> _silos = [];
    private int _siloCounter;

    private TestCluster(TestClusterOptions options)
    {
        _options = options;
        Client = new InProcessClusterClient(Fabric.Network, new ServiceCollection().BuildServiceProvider(), options.ResponseTimeout);
    }

    public InProcessFabric Fabric { get; } = new();

    public InProcessClusterClient Client { get; }

    public IGrainFactory GrainFactory => Client;

    public IReadOnlyList<TestSilo> Silos => _silos.Where(s => s.IsAlive).ToList();

    public static async Task<TestCluster> StartAsync(TestClusterOptions? options = null)
    {
        var cluster = new TestCluster(options ?? new TestClusterOptions());
        try
        {
            for (var i = 0; i < cluster._options.InitialSilos; i++)
            {
                await cluster.StartAdditionalSiloAsync();
            }

            await cluster.WaitForLivenessToStabilizeAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async Task<TestSilo> StartAdditionalSiloAsync()
    {
        var index = Interlocked.Increment(ref _siloCounter);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(_options.MinimumLogLevel);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Services.AddSingleton(Fabric);
        builder.Services.Configure<SiloOptions>(o =>
        {
            o.SiloName = $"silo-{index}";
            o.SiloPort = 11110 + index;
            o.Zone = $"zone-{index % 3}";
        });
        // Fast failure detection, so tests see a killed silo declared dead within a few seconds.
        builder.Services.Configure<MembershipOptions>(o =>
        {
            o.RefreshInterval = TimeSpan.FromMilliseconds(100);
            o.IAmAliveInterval = TimeSpan.FromMilliseconds(100);
            o.DeathTimeout = TimeSpan.FromSeconds(2.5);
        });
        builder.Services.Configure<MessagingOptions>(o => o.ResponseTimeout = _options.ResponseTimeout);
        builder.Services.ConfigureAll<StreamPullingOptions>(o => o.QueueRefreshInterval = TimeSpan.FromSeconds(1));
        _options.ConfigureServices?.Invoke(builder.Services);
        builder.UseSilo(silo => _options.ConfigureSilo?.Invoke(silo));
        var host = builder.Build();
        await host.StartAsync();
        var silo = new TestSilo(host, $"silo-{index}");
        _silos.Add(silo);
        return silo;
    }

    /// <summary>Graceful stop, as on SIGTERM.</summary>
    public async Task StopSiloAsync(TestSilo silo)
    {
        silo.IsAlive = false;
        await silo.Host.StopAsync();
        silo.Host.Dispose();
    }

    /// <summary>Abrupt stop, as on SIGKILL: no flush, no checkpoint, no goodbye to the membership table.</summary>
    public Task KillSiloAsync(TestSilo silo)
    {
        silo.IsAlive = false;
        var services = silo.Services;
        services.GetRequiredService<SiloCallRouter>().Kill();
        Fabric.Network.Unregister(silo.Address);
        services.GetService<Messaging.Network.NetworkMessageTransport>()?.Kill();
        services.GetRequiredService<Catalog>().Kill();
        foreach (var provider in services.GetServices<StreamProviderName>())
        {
            services.GetRequiredKeyedService<IQueueBalancer>(provider.Name).Kill();
        }

        services.GetRequiredService<MembershipAgent>().Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Waits until every live silo sees exactly the live silos as active.</summary>
    public async Task WaitForLivenessToStabilizeAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var live = Silos.Select(s => s.Address).OrderBy(a => a.ToString(), StringComparer.Ordinal).ToList();
            if (Silos.All(s => s.Services.GetRequiredService<IMembershipViewProvider>().Current.ActiveSilos.SequenceEqual(live)))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The cluster's membership did not settle on {string.Join(", ", live)}.");
            }

            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos.Where(s => s.IsAlive).ToList())
        {
            await StopSiloAsync(silo);
        }

        foreach (var silo in _silos.Where(s => !s.IsAlive))
        {
            silo.Host.Dispose();
        }
    }
}
