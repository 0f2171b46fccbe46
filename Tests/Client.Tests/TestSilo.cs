using System.Security.Cryptography.X509Certificates;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Persistence;
using Analytics.Streaming;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Connections.Security;
using Orleans.Hosting;
using Orleans.Streams;

namespace Analytics.Client.Tests;

/// <summary>How a <see cref="TestSilo"/> is set up.</summary>
public sealed record TestSiloOptions
{
    public string ClusterId { get; init; } = "dev";

    public string ServiceId { get; init; } = "analytics";

    /// <summary>TLS with this certificate (with its key); null: plain TCP.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>With TLS: clients must present a certificate with one of these thumbprints (mutual TLS); null: no client certificate needed.</summary>
    public IReadOnlySet<string>? RequiredClientThumbprints { get; init; }
}

/// <summary>
/// A real Orleans silo in this process, on free loopback ports, with the real analytics grains:
/// memory grain storage, memory streams as the "events" provider. Events are seeded through the
/// real page handler (<see cref="SeedAsync"/>), so source and metric grains see what a queue's
/// receiver would hand them.
/// </summary>
public sealed class TestSilo : IAsyncDisposable
{
    private readonly IHost _host;
    private int _seeds;

    private TestSilo(IHost host, int gatewayPort)
    {
        _host = host;
        GatewayPort = gatewayPort;
    }

    public int GatewayPort { get; }

    /// <summary>host:port of the gateway, as <c>--gateway</c> takes it.</summary>
    public string Gateway => $"127.0.0.1:{GatewayPort}";

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    public static async Task<TestSilo> StartAsync(TestSiloOptions? options = null)
    {
        options ??= new TestSiloOptions();
        var siloPort = TestPorts.FreePort();
        var gatewayPort = TestPorts.FreePort();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("CLIENT_TESTS_SILO_LOG") is { Length: > 0 } log)
        {
            builder.Logging.AddSimpleConsole().SetMinimumLevel(Enum.Parse<LogLevel>(log));
        }

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: options.ServiceId, clusterId: options.ClusterId);
            silo.AddMemoryGrainStorage(AnalyticsStreams.Storage, o => o.GrainStorageSerializer = new JsonGrainStateSerializer());
            silo.AddMemoryGrainStorage("PubSubStore");
            silo.AddMemoryStreams(AnalyticsStreams.Provider);
            silo.AddAnalytics();
            if (options.Certificate is { } certificate)
            {
                silo.UseTls(certificate, tls => ConfigureTls(tls, certificate, options.RequiredClientThumbprints));
            }
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync();
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return new TestSilo(host, gatewayPort);
    }

    private static void ConfigureTls(TlsOptions tls, X509Certificate2 certificate, IReadOnlySet<string>? clients)
    {
        // The certificate is self-signed, so peers are checked by thumbprint: silos (itself, here)
        // present the cluster's certificate; clients present none, or one of the required ones.
        var mode = clients is null ? RemoteCertificateMode.AllowCertificate : RemoteCertificateMode.RequireCertificate;
        tls.RemoteCertificateMode = mode;
        tls.ClientCertificateMode = mode;
        tls.RemoteCertificateValidation = (remote, _, _) => remote is null
            ? clients is null
            : remote.Thumbprint == certificate.Thumbprint || clients?.Contains(remote.Thumbprint) == true;
    }

    /// <summary>Hands the events to the real page handler as one page of a fresh queue, and waits until every metric grain applied its share.</summary>
    public async Task SeedAsync(params AnalyticsEvent[] events)
    {
        var queue = $"seed-{Interlocked.Increment(ref _seeds)}";
        var items = events.Select((e, i) => new QueueItem(e.Source, e, new QueuePosition(i + 1))).ToList();
        var context = new SeedPageContext(queue, Grains, _host.Services.GetRequiredKeyedService<IStreamProvider>(AnalyticsStreams.Provider));
        var handler = _host.Services.GetRequiredKeyedService<IQueuePageHandler>(AnalyticsStreams.Provider);
        Assert.True(await handler.HandleAsync(new QueuePage(queue, [], items), context), "the page handler reported a gap");
        await context.PublishedAsync();
        foreach (var metric in events.GroupBy(e => e.Metric))
        {
            var grain = Grains.GetGrain<IMetricGrain>(metric.Key);
            await Eventually.That(async () => (await grain.GetStats(TimeSpan.FromHours(1)))?.Count >= metric.Count(), $"{metric.Key} has its events");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync();
        }
        finally
        {
            _host.Dispose();
        }
    }
}
