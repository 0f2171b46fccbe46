using System.CommandLine;
using Analytics.Client.Kinesis;
using Analytics.Client.Sending;
using Analytics.Events;

namespace Analytics.Client.Cli;

/// <summary><c>analytics send</c>: the device simulator.</summary>
internal static class SendCommand
{
    public static Command Create(CliEnvironment env, Option<Uri> url)
    {
        var rate = new Option<double>("--rate")
        {
            Description = "Events per second to send, paced evenly over time.",
            HelpName = "per-second",
            DefaultValueFactory = _ => 1000,
        }.InRange(0.001, 10_000_000);
        var sources = new Option<int>("--sources")
        {
            Description = "How many devices to simulate (sources dev-0, dev-1, …).",
            HelpName = "n",
            DefaultValueFactory = _ => 100,
        }.InRange(1, 10_000_000);
        var metrics = new Option<string>("--metrics")
        {
            Description = "Comma-separated metrics each device reports, in turn.",
            HelpName = "list",
            DefaultValueFactory = _ => string.Join(',', SimulatorOptions.DefaultMetrics),
        };
        metrics.Validators.Add(result =>
        {
            if (ParseMetrics(result.GetValueOrDefault<string>(), out string? error) is null)
            {
                result.AddError($"--metrics: {error}");
            }
        });
        var duration = CliOptions.Duration("--duration", "Send for this long (30s, 5m, 1h): rate × duration events. Without --duration or --count, sends until Ctrl+C.");
        var count = new Option<long?>("--count")
        {
            Description = "Send exactly this many events, then stop (with --duration, whichever limit is smaller).",
            HelpName = "n",
        };
        count.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<long?>() is < 1)
            {
                result.AddError("--count must be at least 1");
            }
        });
        var batch = new Option<int>("--batch")
        {
            Description = "Most events per POST.",
            HelpName = "n",
            DefaultValueFactory = _ => 500,
        }.InRange(1, 100_000);
        var concurrency = new Option<int>("--concurrency")
        {
            Description = "Most POSTs in flight at once.",
            HelpName = "n",
            DefaultValueFactory = _ => 4,
        }.InRange(1, 64);
        var seed = new Option<int?>("--seed")
        {
            Description = "Seed for the simulated values and choices; the same seed gives the same events. Random when omitted (and printed).",
            HelpName = "n",
        };
        var lateFraction = new Option<double>("--late-fraction")
        {
            Description = "Share of events (0–1) stamped up to --late-by in the past, to exercise late arrival.",
            HelpName = "0..1",
            DefaultValueFactory = _ => 0,
        }.InRange(0, 1);
        var lateBy = CliOptions.Duration("--late-by", "How far in the past late events may be stamped. [default: 2m]");
        var duplicateFraction = new Option<double>("--duplicate-fraction")
        {
            Description = "Share of events (0–1) that resend an earlier event with the same id, to exercise deduplication.",
            HelpName = "0..1",
            DefaultValueFactory = _ => 0,
        }.InRange(0, 1);
        var jitter = CliOptions.Duration("--jitter", "Stamp events up to this much before or after now, instead of exactly now.");
        var prefix = new Option<string>("--source-prefix")
        {
            Description = "Prefix of the source names.",
            HelpName = "text",
            DefaultValueFactory = _ => "dev-",
        };
        var noProgress = CliOptions.NoProgress();
        var kinesis = KinesisCliOptions.Create(env);

        var command = new Command("send", "Simulate devices: send realistic readings at a steady rate, with a progress bar and a summary.")
        {
            rate, sources, metrics, duration, count, batch, concurrency, seed, lateFraction, lateBy, duplicateFraction, jitter, prefix, noProgress,
        };
        kinesis.AddTo(command);

        command.SetHandler(env, url, async context =>
        {
            var simulatorOptions = new SimulatorOptions
            {
                Sources = context.Get(sources),
                Metrics = ParseMetrics(context.Get(metrics), out _)!,
                Seed = context.Get(seed),
                LateFraction = context.Get(lateFraction),
                LateBy = context.Get(lateBy) ?? TimeSpan.FromMinutes(2),
                DuplicateFraction = context.Get(duplicateFraction),
                Jitter = context.Get(jitter) ?? TimeSpan.Zero,
                SourcePrefix = context.Get(prefix) ?? "dev-",
            };
            var sendOptions = new SendOptions
            {
                Rate = context.Get(rate),
                Count = context.Get(count),
                Duration = context.Get(duration),
                BatchSize = context.Get(batch),
                Concurrency = context.Get(concurrency),
            };

            kinesis.CheckUsage(context);
            if (kinesis.IsEnabled(context) && sendOptions.BatchSize > Aws.Kinesis.KinesisLimits.MaxPutRecordsCount)
            {
                throw new UsageException($"--batch is the records per PutRecords call with --kinesis, at most {Aws.Kinesis.KinesisLimits.MaxPutRecordsCount}");
            }

            DeviceSimulator simulator;
            try
            {
                simulator = new DeviceSimulator(simulatorOptions);
                sendOptions.Validate();
            }
            catch (ArgumentException ex)
            {
                throw new UsageException(ex.Message);
            }

            if (sendOptions.Duration is not null && sendOptions.Limit < 1)
            {
                throw new UsageException("--duration × --rate is less than one event; send for longer or faster");
            }

            return kinesis.IsEnabled(context)
                ? await RunKinesisAsync(context, kinesis, simulator, sendOptions, !context.Get(noProgress)).ConfigureAwait(false)
                : await RunAsync(context, CreateSink(context), simulator, sendOptions, !context.Get(noProgress)).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The sink events go to without <c>--kinesis</c>: the HTTP API of <c>--url</c>.</summary>
    private static IEventSink CreateSink(CommandContext context)
    {
        AnalyticsHttpClient client = context.CreateClient();
        return context.Env.CreateSink is { } custom ? custom(client) : new HttpEventSink(client, ownsClient: true);
    }

    /// <summary>
    /// <c>send --kinesis</c>: the same simulator and pacing, into a <see cref="KinesisEventProducer"/>.
    /// </summary>
    private static async Task<int> RunKinesisAsync(CommandContext context, KinesisCliOptions kinesis, DeviceSimulator simulator, SendOptions options, bool progress)
    {
        KinesisEventProducer producer = kinesis.CreateProducer(context, options.Concurrency, options.BatchSize);
        try
        {
            await producer.CheckStreamAsync(context.Cancellation).ConfigureAwait(false);
        }
        catch (KinesisProducerException ex)
        {
            await producer.DisposeAsync().ConfigureAwait(false);
            return await Fail(context, ex.Message).ConfigureAwait(false);
        }

        // The producer runs --concurrency PutRecords calls at once itself, split by source so that
        // each source's events stay in order; the sender must therefore hand it one batch at a
        // time, of --batch events per lane.
        var handOver = new SendOptions
        {
            Rate = options.Rate,
            Count = options.Count,
            Duration = options.Duration,
            BatchSize = (int)Math.Min(100_000L, (long)options.BatchSize * options.Concurrency),
            Concurrency = 1,
            MaxLinger = options.MaxLinger,
        };
        return await RunAsync(context, producer, simulator, handOver, progress, producer).ConfigureAwait(false);
    }

    private static async Task<int> RunAsync(CommandContext context, IEventSink eventSink, DeviceSimulator simulator, SendOptions options, bool progress, KinesisEventProducer? producer = null)
    {
        await using IEventSink sink = eventSink;
        var sender = new EventSender(sink, simulator, options, context.Env.CreateClock());
        long limit = options.Limit;
        string what = limit == long.MaxValue ? "events until Ctrl+C" : Fmt.Plural(limit, "event", "events");
        await context.Err.WriteLineAsync(
            $"sending {what} at {Fmt.Rate(options.Rate)} events/s to {sink.Description} (seed {simulator.Seed})").ConfigureAwait(false);

        SendSummary summary;
        await using (ProgressLine.Start(progress && context.Env.Interactive, context.Env, () => producer is null
            ? Render(sender.Progress, options.Rate)
            : Render(WithKinesis(sender.Progress, producer.Stats), options.Rate) + "  " + KinesisCliOptions.Render(producer.Stats)))
        {
            summary = await sender.RunAsync(context.Cancellation).ConfigureAwait(false);
        }

        SendProgress p = producer is null ? summary.Progress : WithKinesis(summary.Progress, producer.Stats);
        string counts = producer is null
            ? $"{p.Accepted} accepted, {p.Rejected} rejected, {Fmt.Plural(p.Batches, "batch", "batches")}"
            : KinesisCliOptions.Summary(producer.Stats);
        await context.Out.WriteLineAsync(
            $"sent {Fmt.Plural(p.Sent, "event", "events")} in {Fmt.Seconds(p.Elapsed)} ({Fmt.Rate(p.AchievedRate)} events/s) to {sink.Description}: " +
            $"{counts}; " +
            $"{summary.Duplicates} duplicates, {summary.Late} late; seed {simulator.Seed}" +
            (summary.Interrupted ? " (interrupted)" : string.Empty)).ConfigureAwait(false);

        foreach (string error in summary.SampleErrors)
        {
            await context.Err.WriteLineAsync($"rejected: {error}").ConfigureAwait(false);
        }

        if (summary.BehindSchedule)
        {
            await context.Err.WriteLineAsync(
                $"warning: the sink could not keep up with {Fmt.Rate(options.Rate)} events/s; {p.Generated} of {options.Limit} events were made before --duration ran out").ConfigureAwait(false);
        }

        return summary.Failure switch
        {
            KinesisProducerException ex => await Fail(context, ex.Message).ConfigureAwait(false),
            HttpRequestException ex => await Fail(context, AnalyticsCli.UnreachableMessage(context.Url, ex)).ConfigureAwait(false),
            AnalyticsIngestException { IsPayloadTooLarge: true } ex =>
                await Fail(context, $"error: a batch was refused as too large: {ex.Error} Use a smaller --batch.").ConfigureAwait(false),
            AnalyticsApiException ex => await Fail(context, $"error: {sink.Description} answered {(int)ex.StatusCode}: {ex.Error}").ConfigureAwait(false),
            { } ex => await Fail(context, $"error: {ex.Message}").ConfigureAwait(false),
            null when summary.Interrupted => ExitCodes.Interrupted,
            null when p.Rejected > 0 => ExitCodes.Rejected,
            _ => ExitCodes.Ok,
        };
    }

    private static async Task<int> Fail(CommandContext context, string message)
    {
        await context.Err.WriteLineAsync(message).ConfigureAwait(false);
        return ExitCodes.Failed;
    }

    /// <summary>A run's counters with what Kinesis accepted as sent: a batch handed over counts only once its records are in the stream.</summary>
    private static SendProgress WithKinesis(SendProgress p, KinesisProducerStats s) =>
        p with { Sent = s.Events, Accepted = s.Events, Rejected = s.Rejected, Batches = s.Batches };

    internal static string Render(SendProgress p, double rate)
    {
        string counts = $"sent {p.Sent}{(p.Limit == long.MaxValue ? string.Empty : "/" + p.Limit)}  ok {p.Accepted}  rejected {p.Rejected}  {Fmt.Rate(p.AchievedRate)}/s";
        if (p.Limit == long.MaxValue)
        {
            return $"{counts}  elapsed {Fmt.Short(p.Elapsed)}";
        }

        double fraction = (double)p.Sent / p.Limit;
        TimeSpan onSchedule = TimeSpan.FromSeconds(p.Limit / rate) - p.Elapsed;
        TimeSpan atAchieved = p.AchievedRate > 0 ? TimeSpan.FromSeconds((p.Limit - p.Sent) / p.AchievedRate) : onSchedule;
        TimeSpan eta = onSchedule > atAchieved ? onSchedule : atAchieved;
        return $"{ProgressLine.Bar(fraction)} {fraction * 100,3:0}%  {counts}  ETA {Fmt.Short(eta)}";
    }

    /// <summary>Splits and checks <c>--metrics</c>; null with <paramref name="error"/> when invalid.</summary>
    internal static List<string>? ParseMetrics(string? text, out string? error)
    {
        var list = new List<string>();
        foreach (string part in (text ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (Names.ValidateMetric(part) is { } invalid)
            {
                error = invalid;
                return null;
            }

            if (!list.Contains(part))
            {
                list.Add(part);
            }
        }

        if (list.Count == 0)
        {
            error = "name at least one metric, such as temperature,humidity";
            return null;
        }

        error = null;
        return list;
    }
}
