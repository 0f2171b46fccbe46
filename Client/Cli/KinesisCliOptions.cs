using System.CommandLine;
using Amazon.Runtime;
using Analytics.Client.Kinesis;
using Analytics.Aws.Kinesis;

namespace Analytics.Client.Cli;

/// <summary>
/// The options <c>send</c> and <c>replay</c> share to write straight into a Kinesis stream:
/// <c>--kinesis</c>, <c>--kinesis-endpoint</c>, <c>--region</c> and <c>--kpl</c>.
/// </summary>
internal sealed class KinesisCliOptions
{
    public const string EndpointVariable = "KINESIS_ENDPOINT";
    public const string RegionVariable = "AWS_REGION";
    public const string DefaultRegion = "us-east-1";

    private KinesisCliOptions(CliEnvironment env)
    {
        Stream = new Option<string?>("--kinesis")
        {
            Description = "Put the events straight into this Kinesis stream instead of posting them to --url.",
            HelpName = "stream",
        };
        Stream.Validators.Add(result =>
        {
            string? name = result.GetValueOrDefault<string?>();
            if (name is not null && (name.Length is < 1 or > 128 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')))
            {
                result.AddError($"--kinesis: '{name}' is not a stream name (1 to 128 of A-Z a-z 0-9 _ . -)");
            }
        });
        Endpoint = new Option<string?>("--kinesis-endpoint")
        {
            Description = $"Kinesis endpoint override, such as kinesis-mock's http://localhost:4567. Defaults to ${EndpointVariable}, else AWS itself.",
            HelpName = "url",
            DefaultValueFactory = _ => NullIfBlank(env.GetEnvironmentVariable(EndpointVariable)),
        };
        Endpoint.Validators.Add(result =>
        {
            string? url = result.GetValueOrDefault<string?>();
            if (url is not null && !(Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)))
            {
                string what = result.Implicit ? EndpointVariable : "--kinesis-endpoint";
                result.AddError($"{what}: '{url}' is not an http or https URL, such as http://localhost:4567");
            }
        });
        Region = new Option<string>("--region")
        {
            Description = $"The AWS region of the stream. Defaults to ${RegionVariable}, else {DefaultRegion}.",
            HelpName = "region",
            DefaultValueFactory = _ => NullIfBlank(env.GetEnvironmentVariable(RegionVariable)) ?? DefaultRegion,
        };
        Kpl = new Option<bool>("--kpl")
        {
            Description = "With --kinesis: pack each source's events into KPL aggregated records (up to 1 MiB each).",
        };
    }

    public Option<string?> Stream { get; }

    public Option<string?> Endpoint { get; }

    public Option<string> Region { get; }

    public Option<bool> Kpl { get; }

    public static KinesisCliOptions Create(CliEnvironment env) => new(env);

    public void AddTo(Command command)
    {
        command.Options.Add(Stream);
        command.Options.Add(Endpoint);
        command.Options.Add(Region);
        command.Options.Add(Kpl);
    }

    public bool IsEnabled(CommandContext context) => context.Get(Stream) is not null;

    /// <summary>Options that only mean something with <c>--kinesis</c> are refused without it, rather than silently ignored.</summary>
    public void CheckUsage(CommandContext context)
    {
        if (IsEnabled(context))
        {
            return;
        }

        foreach (Option option in new Option[] { Kpl, Region, Endpoint })
        {
            if (context.Parse.GetResult(option) is { Implicit: false })
            {
                throw new UsageException($"{option.Name} needs --kinesis <stream>");
            }
        }
    }

    /// <summary>The producer for <c>--kinesis</c>, with credentials from the environment or the default AWS chain.</summary>
    public KinesisEventProducer CreateProducer(CommandContext context, int concurrency, int maxRecordsPerCall)
    {
        CliEnvironment env = context.Env;
        string region = context.Get(Region) ?? DefaultRegion;
        var clientOptions = new KinesisClientOptions { ServiceUrl = context.Get(Endpoint), Region = region };
        TimeSpan? retryDelay = env.RetryDelay;
        if (retryDelay is { } delay)
        {
            clientOptions.BaseRetryDelay = delay;
            clientOptions.MaxRetryDelay = delay * 4;
        }

        KinesisClient client;
        try
        {
            client = env.CreateKinesisClient(clientOptions, Credentials(env));
        }
        catch (ArgumentException ex)
        {
            // An unknown region without an endpoint override has no public endpoint to resolve.
            throw new UsageException($"--region '{region}': {ex.Message}");
        }

        var options = new KinesisProducerOptions
        {
            StreamName = context.Get(Stream)!,
            Region = region,
            Aggregate = context.Get(Kpl),
            Concurrency = concurrency,
            MaxRecordsPerCall = maxRecordsPerCall,
            BaseRetryDelay = retryDelay ?? TimeSpan.FromMilliseconds(100),
            MaxRetryDelay = retryDelay is { } d ? d * 4 : TimeSpan.FromSeconds(5),
            PutRetryTimeout = env.KinesisPutRetryTimeout,
        };
        return new KinesisEventProducer(client, options, ownsClient: true);
    }

    /// <summary>Keys from the environment when both are set (with a session token if there is one); null lets the client use the default AWS chain.</summary>
    private static AWSCredentials? Credentials(CliEnvironment env)
    {
        string? key = NullIfBlank(env.GetEnvironmentVariable("AWS_ACCESS_KEY_ID"));
        string? secret = NullIfBlank(env.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY"));
        if (key is null || secret is null)
        {
            return null;
        }

        string? token = NullIfBlank(env.GetEnvironmentVariable("AWS_SESSION_TOKEN"));
        return token is null ? new BasicAWSCredentials(key, secret) : new SessionAWSCredentials(key, secret, token);
    }

    private static string? NullIfBlank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    /// <summary>The progress line of a Kinesis run: what Kinesis accepted, not what was handed over.</summary>
    public static string Render(KinesisProducerStats s) =>
        $"records {s.Records}  batches {s.Batches}  retried {s.RetriedEntries}  throttled {s.Throttled}";

    /// <summary>The summary's Kinesis counters.</summary>
    public static string Summary(KinesisProducerStats s) =>
        $"{Fmt.Plural(s.Records, "record", "records")} in {Fmt.Plural(s.Batches, "PutRecords batch", "PutRecords batches")}, " +
        $"{s.RetriedEntries} retried entries, {s.Throttled} throttled, {s.Rejected} rejected";
}
