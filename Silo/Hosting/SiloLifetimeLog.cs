using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Analytics.Silo.Hosting;

/// <summary>
/// One line when the silo has joined its cluster and one when it stops, at Information, so an
/// operator (and the end-to-end tests) see the silo's life in its log; and a warning for each
/// retired configuration key still in use.
/// </summary>
internal sealed partial class SiloLifetimeLog(
    IConfiguration configuration,
    IOptions<ClusterOptions> cluster,
    ILocalSiloDetails silo,
    IHostApplicationLifetime lifetime,
    ILogger<SiloLifetimeLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (OrleansSiloConfiguration.ClusterId(configuration).Warning is { } warning)
        {
            LogDeprecated(warning);
        }

        if (!string.IsNullOrEmpty(configuration["Cluster:Secret"]))
        {
            LogDeprecated("Cluster:Secret is retired: Orleans has no shared-secret handshake. Secure the cluster with mutual TLS (Cluster:Tls:CertificatePath) instead; the secret is ignored.");
        }

        lifetime.ApplicationStarted.Register(() => LogStarted(silo.Name, silo.SiloAddress.ToString(), cluster.Value.ClusterId));
        lifetime.ApplicationStopped.Register(() => LogStopped(silo.Name, silo.SiloAddress.ToString()));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Warning}")]
    private partial void LogDeprecated(string warning);

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Name} ({Address}) started in cluster {ClusterId}")]
    private partial void LogStarted(string name, string address, string clusterId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Name} ({Address}) stopped")]
    private partial void LogStopped(string name, string address);
}
