using Amazon.Runtime;
using Analytics.Client.Sending;
using Analytics.Aws.Kinesis;

namespace Analytics.Client.Cli;

/// <summary>
/// Everything the commands take from the outside world, so that tests can run the tool in
/// process: writers, environment variables, the clock, how clients and sinks are made.
/// </summary>
public sealed class CliEnvironment
{
    /// <summary>Results: tables, JSON, summaries.</summary>
    public TextWriter Output { get; init; } = Console.Out;

    /// <summary>Errors, notices and progress bars.</summary>
    public TextWriter Error { get; init; } = Console.Error;

    /// <summary>Draw progress bars (only on a terminal: they redraw one line with carriage returns).</summary>
    public bool Interactive { get; init; }

    /// <summary>Width of the terminal, so a progress line never wraps (0: unknown).</summary>
    public Func<int> TerminalWidth { get; init; } = () => 0;

    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>Makes the HTTP client for the chosen URL.</summary>
    public Func<AnalyticsClientOptions, AnalyticsHttpClient> CreateClient { get; init; } = options => new AnalyticsHttpClient(options);

    /// <summary>Wait before the first retry of a failed request (the client's default when null).</summary>
    public TimeSpan? RetryDelay { get; init; }

    /// <summary>The clock <c>send</c> paces itself by.</summary>
    public Func<ISendClock> CreateClock { get; init; } = () => new SystemSendClock();

    /// <summary>
    /// Replaces the sink of <c>send</c> (tests); null sends to the HTTP API. The argument is
    /// the HTTP client the sink would otherwise use.
    /// </summary>
    public Func<AnalyticsHttpClient, IEventSink>? CreateSink { get; init; }

    /// <summary>
    /// Makes the Kinesis client of <c>--kinesis</c> (tests pass a fake HTTP handler). Null
    /// credentials mean the client's default AWS chain.
    /// </summary>
    public Func<KinesisClientOptions, AWSCredentials?, KinesisClient> CreateKinesisClient { get; init; } =
        (options, credentials) => new KinesisClient(options, credentials);

    /// <summary>How long <c>--kinesis</c> re-sends a PutRecords call's failed entries before giving up.</summary>
    public TimeSpan KinesisPutRetryTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Now, for relative times such as <c>--from 15m</c>.</summary>
    public Func<DateTimeOffset> UtcNow { get; init; } = () => DateTimeOffset.UtcNow;

    /// <summary>Standard input, for <c>replay -</c>.</summary>
    public Func<Stream> OpenStandardInput { get; init; } = Console.OpenStandardInput;

    /// <summary>The real console: progress bars when standard error is a terminal.</summary>
    public static CliEnvironment ForConsole() => new()
    {
        Interactive = !Console.IsErrorRedirected,
        TerminalWidth = () =>
        {
            try
            {
                return Console.WindowWidth;
            }
            catch (IOException)
            {
                return 0;
            }
        },
    };
}
