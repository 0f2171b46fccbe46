using Amazon.Runtime;
using Analytics.Client.Cli;
using Analytics.Client.Sending;
using Analytics.Aws.Kinesis;

namespace Analytics.Client.Tests;

/// <summary>The outcome of one in-process run of the tool.</summary>
public sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string[] OutLines => Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Err}";
}

/// <summary>Runs the tool's root command in process, with string writers and no real environment.</summary>
public static class CliHost
{
    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(new CliSetup(), args);

    public static async Task<CliResult> RunAsync(CliSetup options, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var env = new CliEnvironment
        {
            Output = output,
            Error = error,
            Interactive = false,
            GetEnvironmentVariable = name => options.Environment.GetValueOrDefault(name),
            RetryDelay = TimeSpan.FromMilliseconds(5),
            CreateClock = options.Clock ?? (() => new SystemSendClock()),
            CreateSink = options.Sink,
            UtcNow = options.Now ?? (() => DateTimeOffset.UtcNow),
            CreateKinesisClient = options.Kinesis ?? ((o, c) => new KinesisClient(o, c)),
            KinesisPutRetryTimeout = options.KinesisPutRetryTimeout,
        };
        int code = await AnalyticsCli.RunAsync(args, env, options.Cancellation);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public sealed class CliSetup
    {
        public Dictionary<string, string?> Environment { get; init; } = [];

        public Func<ISendClock>? Clock { get; init; }

        public Func<AnalyticsHttpClient, IEventSink>? Sink { get; init; }

        public Func<DateTimeOffset>? Now { get; init; }

        public CancellationToken Cancellation { get; init; }

        /// <summary>Makes the client of <c>--kinesis</c>; a fake handler's client in unit tests.</summary>
        public Func<KinesisClientOptions, AWSCredentials?, KinesisClient>? Kinesis { get; init; }

        public TimeSpan KinesisPutRetryTimeout { get; init; } = TimeSpan.FromSeconds(60);
    }
}
