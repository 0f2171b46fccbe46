using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Analytics.Bench;

/// <summary>
/// An Orleans silo in this process: a generic host with <c>UseOrleans</c> and localhost
/// clustering on free loopback ports (other people's silos may hold Orleans' default ports on the
/// shared machine), default options otherwise. Calls made through <see cref="GrainFactory"/> are
/// made by code running in the silo's process, as the HTTP API's handlers make them.
/// </summary>
public static class BenchSilo
{
    public const string ClusterId = "bench";

    /// <param name="primary">The silo port of the first silo of a cluster; null for that first silo itself.</param>
    public static IHost Build(Action<ISiloBuilder>? configure = null, string name = "bench", int? primary = null)
    {
        var siloPort = FreePort();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(
                siloPort,
                FreePort(),
                primary is { } p ? new IPEndPoint(IPAddress.Loopback, p) : null,
                serviceId: ClusterId,
                clusterId: ClusterId);
            silo.Configure<SiloOptions>(o => o.SiloName = name);
            configure?.Invoke(silo);
        });
        var host = builder.Build();
        return host;
    }

    public static async Task<IHost> StartAsync(Action<ISiloBuilder>? configure = null)
    {
        var host = Build(configure);
        await host.StartAsync();
        return host;
    }

    public static IGrainFactory GrainFactory(this IHost host) => host.Services.GetRequiredService<IGrainFactory>();

    /// <summary>This silo's own address (what <c>Grain.RuntimeIdentity</c> reports for grains on it).</summary>
    public static string Identity(this IHost host) => host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString();

    /// <summary>The silo port it listens on, for a second silo to join.</summary>
    public static int SiloPort(this IHost host) => host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.Endpoint.Port;

    public static async Task StopQuietlyAsync(this IHost host)
    {
        await host.StopAsync();
        host.Dispose();
    }

    /// <summary>A loopback port free right now (bound and released; good enough on one machine).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
