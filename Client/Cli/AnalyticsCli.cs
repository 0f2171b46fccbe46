using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Net;

namespace Analytics.Client.Cli;

/// <summary>A usage problem found after parsing (a range check across options, a missing file): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>What a command's action gets: the parse result, the environment, the chosen URL.</summary>
internal sealed class CommandContext(ParseResult parse, CliEnvironment env, Uri url, CancellationToken cancellation)
{
    public ParseResult Parse { get; } = parse;

    public CliEnvironment Env { get; } = env;

    public Uri Url { get; } = url;

    public CancellationToken Cancellation { get; } = cancellation;

    public TextWriter Out => Env.Output;

    public TextWriter Err => Env.Error;

    public T? Get<T>(Option<T> option) => Parse.GetValue(option);

    public T Get<T>(Argument<T> argument) => Parse.GetValue(argument)!;

    public AnalyticsHttpClient CreateClient()
    {
        var options = new AnalyticsClientOptions { BaseAddress = Url };
        if (Env.RetryDelay is { } delay)
        {
            options.RetryDelay = delay;
        }

        return Env.CreateClient(options);
    }
}

/// <summary>
/// The <c>analytics</c> command line tool: <c>send</c>, <c>replay</c>, <c>query</c>,
/// <c>dead-letters</c> and <c>cluster</c>, over the HTTP API.
/// </summary>
public static class AnalyticsCli
{
    private const string Overview = """
        Sends events to the real-time analytics service and queries it, over a silo's HTTP API.

        Examples:
          analytics send --rate 2000 --duration 1m          simulate 100 devices for a minute
          analytics replay events.ndjson                    post a file of events in batches
          analytics send --kinesis events --kpl             put events straight into a Kinesis stream
          analytics query metrics                           list the metrics seen so far
          analytics query stats temperature --window 15m    aggregates of the last 15 minutes
          analytics query top temperature --by max --k 5    the five hottest sources
          analytics query series temperature --from 1h --step 5m
          analytics call stats temperature --gateway 10.0.1.5:30000 --gateway 10.0.2.7:30000
                                                            the same through the grains' gateways

        Exit codes: 0 ok, 1 server unreachable or failed, 2 bad arguments or input,
        3 metric or source not found, 4 some events rejected, 130 interrupted (Ctrl+C).
        """;

    /// <summary>Runs the tool with <paramref name="args"/> and returns its exit code.</summary>
    /// <param name="cancellation">Interrupts the command (Ctrl+C): it stops cleanly, prints its summary and exits 130.</param>
    public static async Task<int> RunAsync(string[] args, CliEnvironment? environment = null, CancellationToken cancellation = default)
    {
        CliEnvironment env = environment ?? CliEnvironment.ForConsole();
        RootCommand root = Build(env);
        ParseResult parse = root.Parse(args);

        if (parse.Action is ParseErrorAction)
        {
            foreach (ParseError error in parse.Errors)
            {
                await env.Error.WriteLineAsync($"error: {error.Message}").ConfigureAwait(false);
            }

            await env.Error.WriteLineAsync($"Run '{CommandPath(parse.CommandResult)} --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var configuration = new InvocationConfiguration
        {
            Output = env.Output,
            Error = env.Error,

            // Ctrl+C is the caller's to turn into `cancellation` (Program does), so that an
            // in-process run never installs signal handlers.
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        };
        return await parse.InvokeAsync(configuration, cancellation).ConfigureAwait(false);
    }

    /// <summary>The command tree.</summary>
    public static RootCommand Build(CliEnvironment env)
    {
        var url = CliOptions.Url(env);
        var root = new RootCommand(Overview);
        root.Options.Add(url);
        root.Subcommands.Add(SendCommand.Create(env, url));
        root.Subcommands.Add(ReplayCommand.Create(env, url));
        root.Subcommands.Add(QueryCommands.Create(env, url));
        root.Subcommands.Add(AdminCommands.DeadLetters(env, url));
        root.Subcommands.Add(AdminCommands.Cluster(env, url));
        root.Subcommands.Add(CallCommands.Create(env, url));
        return root;
    }

    /// <summary>Wraps a command body: builds its context and turns exceptions into messages and exit codes.</summary>
    internal static void SetHandler(this Command command, CliEnvironment env, Option<Uri> url, Func<CommandContext, Task<int>> body)
    {
        command.SetAction(async (parse, cancellation) =>
        {
            var context = new CommandContext(parse, env, parse.GetValue(url)!, cancellation);
            try
            {
                return await body(context).ConfigureAwait(false);
            }
            catch (UsageException ex)
            {
                await env.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            catch (Kinesis.KinesisProducerException ex)
            {
                // Its message is complete: which stream, which endpoint, what to do.
                await env.Error.WriteLineAsync(ex.Message).ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (AnalyticsApiException ex) when (ex.StatusCode == HttpStatusCode.BadRequest)
            {
                await env.Error.WriteLineAsync($"error: the server refused the request: {ex.Error}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            catch (AnalyticsApiException ex)
            {
                await env.Error.WriteLineAsync($"error: {context.Url} answered {(int)ex.StatusCode}: {ex.Error}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (HttpRequestException ex)
            {
                await env.Error.WriteLineAsync(UnreachableMessage(context.Url, ex)).ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (TimeoutException ex)
            {
                await env.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
                return ExitCodes.Failed;
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                await env.Error.WriteLineAsync("interrupted").ConfigureAwait(false);
                return ExitCodes.Interrupted;
            }
        });
    }

    internal static string UnreachableMessage(Uri url, HttpRequestException ex)
    {
        string reason = ex.Message.TrimEnd();
        if (!reason.EndsWith('.'))
        {
            reason += ".";
        }

        return $"error: cannot reach the analytics API at {url}: {reason} Is a silo running there? Choose another with --url or ${CliOptions.UrlVariable}.";
    }

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is CommandResult command; r = command.Parent)
        {
            names.Insert(0, command.Command is RootCommand ? "analytics" : command.Command.Name);
        }

        return string.Join(' ', names);
    }
}
