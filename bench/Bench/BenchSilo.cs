using Analytics.Runtime.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Analytics.Bench;

/// <summary>
/// A lone silo in this process: a generic host with <c>UseSilo</c>, its own in-process fabric and
/// the default options (so no test-cluster timers run beside the benchmark). Calls made through
/// <see cref="GrainFactory"/> go through the silo's router and catalog, as calls made by code
/// running inside the silo do.
/// </summary>
public static class BenchSilo
{
    public static IHost Build(Action<ISiloBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Services.Configure<SiloOptions>(o => o.SiloName = "bench");
        builder.UseSilo(silo => configure?.Invoke(silo));
        return builder.Build();
    }

    public static async Task<IHost> StartAsync(Action<ISiloBuilder>? configure = null)
    {
        var host = Build(configure);
        await host.StartAsync();
        return host;
    }

    public static Analytics.Runtime.IGrainFactory GrainFactory(this IHost host) =>
        host.Services.GetRequiredService<Analytics.Runtime.IGrainFactory>();

    public static async Task StopQuietlyAsync(this IHost host)
    {
        await host.StopAsync();
        host.Dispose();
    }
}
