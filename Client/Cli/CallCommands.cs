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
        var clusterId = new Option<string>("--cluster-id") { Description = "The silos' Cluster:Id. [default: dev]", HelpName = "id", DefaultValueFactory = _ => "dev" };
        var call = new Command("call", "Query the grains directly through the silos' gateways (the .NET cluster client) instead of the HTTP API.")
        {
            gateways, secret, clusterId,
        };

        var window = CliOptions.Duration("--window", "The window, ending now (30s, 5m, 1h, 7d). [default: 5m]");
        var metric = CliOptions.Metric();
        var stats = new Command("stats", "A metric's aggregates over a window, from its metric grain.") { metric, window };
        stats.SetHandler(env, url, context => RunAsync(context, gateways, secret, clusterId,
            client => client.GetStatsAsync(context.Get(metric), context.Get(window) ?? TimeSpan.FromMinutes(5)), $"no such metric: {context.Get(metric)}"));

        var source = CliOptions.Source();
        var sourceWindow = CliOptions.Duration("--window", "The window, ending now. [default: 5m]");
        var summary = new Command("source", "A source's summary over a window, from its source grain.") { source, sourceWindow };
        summary.SetHandler(env, url, context => RunAsync(context, gateways, secret, clusterId,
            client => client.GetSourceAsync(context.Get(source), context.Get(sourceWindow) ?? TimeSpan.FromMinutes(5)), $"no such source: {context.Get(source)}"));

        var metrics = new Command("metrics", "The metric names, from the metric catalog grain.");
        metrics.SetHandler(env, url, context => RunAsync<IReadOnlyList<string>>(context, gateways, secret, clusterId, client => client.ListMetricsAsync()!, "no metrics"));

        call.Subcommands.Add(stats);
        call.Subcommands.Add(summary);
        call.Subcommands.Add(metrics);
        return call;
    }

    private static async Task<int> RunAsync<T>(CommandContext context, Option<string[]> gateways, Option<string?> secret, Option<string> clusterId, Func<AnalyticsClusterClient, Task<T?>> query, string notFound)
    {
        AnalyticsClusterClient client;
        try
        {
            client = new AnalyticsClusterClient(context.Get(gateways)!, context.Get(secret) ?? context.Env.GetEnvironmentVariable(SecretVariable), context.Get(clusterId) ?? "dev");
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
                await context.Err.WriteLineAsync($"error: the gateway refused this client: {exception.Message} Check --cluster-secret (or ${SecretVariable}) and --cluster-id.").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (SiloUnavailableException exception)
            {
                await context.Err.WriteLineAsync($"error: {exception.Message}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
        }
    }

    private static readonly JsonSerializerOptions Indented = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
