using System.CommandLine;
using System.Text.Json;
using Analytics.Client.Cluster;
using Orleans.Runtime;

namespace Analytics.Client.Cli;

/// <summary>
/// <c>analytics call …</c>: the queries made as grain calls through the silos' gateways (an Orleans
/// cluster client), not over HTTP. Prints the grains' results as JSON.
/// </summary>
internal static class CallCommands
{
    public const string SecretVariable = CallOptions.SecretVariable;

    public const string TlsThumbprintVariable = CallOptions.TlsThumbprintVariable;

    public static Command Create(CliEnvironment env, Option<Uri> url)
    {
        var connection = new CallOptions();
        var call = new Command("call", "Query the grains directly through the silos' gateways (the .NET cluster client) instead of the HTTP API.");
        foreach (var option in connection.All)
        {
            call.Options.Add(option);
        }

        var window = CliOptions.Duration("--window", "The window, ending now (30s, 5m, 1h, 7d). [default: 5m]");
        var metric = CliOptions.Metric();
        var stats = new Command("stats", "A metric's aggregates over a window, from its metric grain.") { metric, window };
        stats.SetHandler(env, url, context => RunAsync(context, connection,
            client => client.GetStatsAsync(context.Get(metric), context.Get(window) ?? TimeSpan.FromMinutes(5)), $"no such metric: {context.Get(metric)}"));

        var source = CliOptions.Source();
        var sourceWindow = CliOptions.Duration("--window", "The window, ending now. [default: 5m]");
        var summary = new Command("source", "A source's summary over a window, from its source grain.") { source, sourceWindow };
        summary.SetHandler(env, url, context => RunAsync(context, connection,
            client => client.GetSourceAsync(context.Get(source), context.Get(sourceWindow) ?? TimeSpan.FromMinutes(5)), $"no such source: {context.Get(source)}"));

        var metrics = new Command("metrics", "The metric names, from the metric catalog grain.");
        metrics.SetHandler(env, url, context => RunAsync<IReadOnlyList<string>>(context, connection, client => client.ListMetricsAsync()!, "no metrics"));

        call.Subcommands.Add(stats);
        call.Subcommands.Add(summary);
        call.Subcommands.Add(metrics);
        return call;
    }

    private static async Task<int> RunAsync<T>(CommandContext context, CallOptions connection, Func<AnalyticsClusterClient, Task<T?>> query, string notFound)
    {
        var client = connection.CreateClient(context);
        await using (client.ConfigureAwait(false))
        {
            try
            {
                await client.ConnectAsync(context.Cancellation).ConfigureAwait(false);
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
                await context.Err.WriteLineAsync(
                    $"error: the gateway and this client did not authenticate each other: {exception.Message} " +
                    $"Check --tls-thumbprint (or ${CallOptions.TlsThumbprintVariable}) and, if the silos require client certificates, " +
                    $"--tls-certificate (or ${CallOptions.TlsCertificateVariable}).").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (SiloUnavailableException exception)
            {
                await context.Err.WriteLineAsync($"error: {exception.Message}{UnavailableHint(context, connection)}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (ArgumentException exception)
            {
                // The grain refused the query itself (a window longer than what is retained, say): a usage error, as a 400 is.
                await context.Err.WriteLineAsync($"error: the cluster refused the query: {exception.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            catch (OrleansException exception)
            {
                await context.Err.WriteLineAsync($"error: the call failed: {exception.Message}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
        }
    }

    /// <summary>
    /// Orleans reports a gateway that closed the connection in the same words whatever the reason
    /// (TLS on one side only, a client certificate missing, another cluster id), so the hint
    /// names what to check given the options used.
    /// </summary>
    private static string UnavailableHint(CommandContext context, CallOptions connection) =>
        (connection.Thumbprint(context), connection.HasCertificate(context)) switch
        {
            (null, _) => $" Is a silo's gateway there? If the silos use TLS, pass --tls-thumbprint (or ${CallOptions.TlsThumbprintVariable}). " +
                "A gateway of another cluster closes the connection too: check --cluster-id.",
            (_, false) => $" If the silos require a client certificate (mutual TLS), pass the cluster's with --tls-certificate (or ${CallOptions.TlsCertificateVariable}); " +
                "if they do not use TLS, leave out --tls-thumbprint. Check --cluster-id too.",
            _ => " Check that the silos accept the certificate of --tls-certificate (the cluster's), that they use TLS, and --cluster-id.",
        };

    private static readonly JsonSerializerOptions Indented = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
