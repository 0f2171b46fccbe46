using System.CommandLine;
using System.Text.Json;
using Analytics.Client.Cluster;
using Analytics.Runtime;
using Analytics.Runtime.Messaging.Network;

namespace Analytics.Client.Cli;

/// <summary>
/// <c>analytics call …</c>: the queries made as grain calls through the silos' gateways (the
/// cluster client), not over HTTP. Prints the grains' results as JSON.
/// </summary>
internal static class CallCommands
{
    public const string SecretVariable = "ANALYTICS_CLUSTER_SECRET";

    public const string TlsThumbprintVariable = "ANALYTICS_CLUSTER_TLS_THUMBPRINT";

    public static Command Create(CliEnvironment env, Option<Uri> url)
    {
        var gateways = new Option<string[]>("--gateway")
        {
            Description = "A silo's gateway, host:port (its Gateway:Port). Repeat it for fail-over between silos.",
            HelpName = "host:port",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var secret = new Option<string?>("--cluster-secret")
        {
            Description = $"The silos' Cluster:Secret. [default: ${SecretVariable}]",
            HelpName = "secret",
        };
        var tls = new Option<string?>("--tls-thumbprint")
        {
            Description = "Connect with TLS, accepting only gateways that present the silos' Cluster:Tls certificate with this SHA-1 thumbprint " +
                $"(40 hex digits, colons allowed; several comma-separated while it is rotated). [default: ${TlsThumbprintVariable}; unset: no TLS]",
            HelpName = "sha1 hex",
        };
        var clusterId = new Option<string>("--cluster-id") { Description = "The silos' Cluster:Id. [default: dev]", HelpName = "id", DefaultValueFactory = _ => "dev" };
        var call = new Command("call", "Query the grains directly through the silos' gateways (the .NET cluster client) instead of the HTTP API.")
        {
            gateways, secret, clusterId, tls,
        };

        var window = CliOptions.Duration("--window", "The window, ending now (30s, 5m, 1h, 7d). [default: 5m]");
        var metric = CliOptions.Metric();
        var stats = new Command("stats", "A metric's aggregates over a window, from its metric grain.") { metric, window };
        stats.SetHandler(env, url, context => RunAsync(context, gateways, secret, clusterId, tls,
            client => client.GetStatsAsync(context.Get(metric), context.Get(window) ?? TimeSpan.FromMinutes(5)), $"no such metric: {context.Get(metric)}"));

        var source = CliOptions.Source();
        var sourceWindow = CliOptions.Duration("--window", "The window, ending now. [default: 5m]");
        var summary = new Command("source", "A source's summary over a window, from its source grain.") { source, sourceWindow };
        summary.SetHandler(env, url, context => RunAsync(context, gateways, secret, clusterId, tls,
            client => client.GetSourceAsync(context.Get(source), context.Get(sourceWindow) ?? TimeSpan.FromMinutes(5)), $"no such source: {context.Get(source)}"));

        var metrics = new Command("metrics", "The metric names, from the metric catalog grain.");
        metrics.SetHandler(env, url, context => RunAsync<IReadOnlyList<string>>(context, gateways, secret, clusterId, tls, client => client.ListMetricsAsync()!, "no metrics"));

        call.Subcommands.Add(stats);
        call.Subcommands.Add(summary);
        call.Subcommands.Add(metrics);
        return call;
    }

    private static async Task<int> RunAsync<T>(CommandContext context, Option<string[]> gateways, Option<string?> secret, Option<string> clusterId, Option<string?> tls, Func<AnalyticsClusterClient, Task<T?>> query, string notFound)
    {
        var thumbprint = context.Get(tls) ?? context.Env.GetEnvironmentVariable(TlsThumbprintVariable);
        thumbprint = string.IsNullOrWhiteSpace(thumbprint) ? null : thumbprint;
        if (context.Get(gateways) is not { Length: > 0 })
        {
            throw new UsageException("call needs at least one --gateway host:port: a silo's gateway endpoint (its Gateway:Port).");
        }

        AnalyticsClusterClient client;
        try
        {
            client = new AnalyticsClusterClient(context.Get(gateways)!, context.Get(secret) ?? context.Env.GetEnvironmentVariable(SecretVariable), context.Get(clusterId) ?? "dev", tlsThumbprint: thumbprint);
        }
        catch (ArgumentException exception)
        {
            throw new UsageException(exception.Message);
        }

        await using (client.ConfigureAwait(false))
        {
            try
            {
                var result = await query(client).WaitAsync(context.Cancellation).ConfigureAwait(false);
                if (result is null)
                {
                    await context.Err.WriteLineAsync(notFound).ConfigureAwait(false);
                    return ExitCodes.NotFound;
                }

                await context.Out.WriteLineAsync(JsonSerializer.Serialize(result, Indented)).ConfigureAwait(false);
                return ExitCodes.Ok;
            }
            catch (ClusterAuthenticationException exception)
            {
                // Either side can refuse: the gateway a wrong secret or cluster id, this client a gateway certificate it has not pinned.
                await context.Err.WriteLineAsync(
                    $"error: the gateway and this client did not authenticate each other: {exception.Message} " +
                    $"Check --cluster-secret (or ${SecretVariable}), --cluster-id and, with TLS, --tls-thumbprint (or ${TlsThumbprintVariable}).").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (SiloUnavailableException exception)
            {
                // A plain client and a TLS gateway each wait for the other to speak first, until the connect timeout.
                var hint = thumbprint is null && exception.InnerException is TimeoutException
                    ? $" If the silos use TLS (Cluster:Tls:CertificatePath), pass --tls-thumbprint (or ${TlsThumbprintVariable})."
                    : "";
                await context.Err.WriteLineAsync($"error: {exception.Message}{hint}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
        }
    }

    private static readonly JsonSerializerOptions Indented = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
