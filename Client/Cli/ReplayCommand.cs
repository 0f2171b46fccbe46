using System.CommandLine;
using System.Runtime.ExceptionServices;
using Analytics.Client.Kinesis;
using Analytics.Client.Replay;

namespace Analytics.Client.Cli;

/// <summary><c>analytics replay</c>: posts a file of events.</summary>
internal static class ReplayCommand
{
    public static Command Create(CliEnvironment env, Option<Uri> url)
    {
        var file = new Argument<string>("file")
        {
            Description = "An NDJSON file (one event per line) or a JSON array of events; - reads standard input.",
        };
        var batch = new Option<int>("--batch")
        {
            Description = "Most events per POST (a batch is also kept under 4 MiB).",
            HelpName = "n",
            DefaultValueFactory = _ => 500,
        }.InRange(1, 100_000);
        var format = new Option<string>("--format")
        {
            Description = "The file's form; auto tells by its first character ([ is a JSON array).",
            HelpName = "auto|ndjson|json",
            DefaultValueFactory = _ => "auto",
        }.OneOf("auto", "ndjson", "json");
        var maxErrors = new Option<int>("--max-errors")
        {
            Description = "Most rejected lines to list (all are counted); 0 lists them all.",
            HelpName = "n",
            DefaultValueFactory = _ => 100,
        }.InRange(0, int.MaxValue);
        var noProgress = CliOptions.NoProgress();
        var concurrency = new Option<int>("--concurrency")
        {
            Description = "With --kinesis: most PutRecords calls in flight at once (split by source, so each source's events stay in order).",
            HelpName = "n",
            DefaultValueFactory = _ => 4,
        }.InRange(1, 64);
        var kinesis = KinesisCliOptions.Create(env);

        var command = new Command("replay", "Post the events of a file in batches, and report each rejected event by its line number.")
        {
            file, batch, format, maxErrors, noProgress, concurrency,
        };
        kinesis.AddTo(command);

        command.SetHandler(env, url, async context =>
        {
            kinesis.CheckUsage(context);
            if (!kinesis.IsEnabled(context) && context.Parse.GetResult(concurrency) is { Implicit: false })
            {
                throw new UsageException("--concurrency needs --kinesis <stream> (replay posts one batch at a time)");
            }

            if (kinesis.IsEnabled(context) && context.Get(batch) > Aws.Kinesis.KinesisLimits.MaxPutRecordsCount)
            {
                throw new UsageException($"--batch is the records per PutRecords call with --kinesis, at most {Aws.Kinesis.KinesisLimits.MaxPutRecordsCount}");
            }

            string path = context.Get(file);
            ReplayFormat replayFormat = context.Get(format) switch
            {
                "ndjson" => ReplayFormat.Ndjson,
                "json" => ReplayFormat.JsonArray,
                _ => ReplayFormat.Auto,
            };

            Stream stream = Open(context, path);
            using var reader = new ReplayReader(stream, replayFormat);
            using AnalyticsHttpClient client = context.CreateClient();
            await using KinesisEventProducer? producer = kinesis.IsEnabled(context)
                ? kinesis.CreateProducer(context, context.Get(concurrency), context.Get(batch))
                : null;
            IReplayRunner runner;
            if (producer is null)
            {
                runner = new ReplayRunner(client, reader, new ReplayOptions { BatchSize = context.Get(batch) });
            }
            else
            {
                await producer.CheckStreamAsync(context.Cancellation).ConfigureAwait(false);

                // One hand-over fills a PutRecords call of --batch records per lane.
                int lanes = producer.Options.Concurrency;
                runner = new KinesisReplayRunner(
                    producer,
                    reader,
                    new ReplayOptions { BatchSize = context.Get(batch) * lanes, MaxBatchBytes = (long)producer.Options.MaxBytesPerCall * lanes },
                    () => context.Env.UtcNow().ToUnixTimeMilliseconds());
            }

            string name = path == "-" ? "standard input" : path;

            ReplaySummary? summary = null;
            ReplayFormatException? broken = null;
            Exception? failure = null;
            await using (ProgressLine.Start(!context.Get(noProgress) && context.Env.Interactive, context.Env, () => producer is null
                ? Render(runner.Progress)
                : Render(runner.Progress) + "  " + KinesisCliOptions.Render(producer.Stats)))
            {
                try
                {
                    summary = await runner.RunAsync(context.Cancellation).ConfigureAwait(false);
                }
                catch (ReplayFormatException ex)
                {
                    broken = ex;
                }
                catch (Exception ex) when (ex is HttpRequestException or AnalyticsApiException or TimeoutException or KinesisProducerException)
                {
                    failure = ex; // reported by the handler, after the summary of what was done
                }
            }

            ReplayProgress p = summary?.Progress ?? runner.Progress;
            if (summary is not null)
            {
                await ReportRejectionsAsync(context.Out, summary, context.Get(maxErrors)).ConfigureAwait(false);
            }

            await context.Out.WriteLineAsync(
                $"replayed {Fmt.Plural(p.Sent, "event", "events")} from {name} ({Fmt.Plural(p.LinesRead, "line", "lines")}, {Fmt.Bytes(p.BytesRead)}) in {Fmt.Seconds(p.Elapsed)}: " +
                $"{p.Accepted} accepted, {p.Rejected} rejected, {Fmt.Plural(p.Batches, "batch", "batches")}" +
                (producer is null ? string.Empty : $" to {producer.Description} ({KinesisCliOptions.Summary(producer.Stats)})") +
                (summary?.Interrupted == true ? " (interrupted)" : string.Empty)).ConfigureAwait(false);

            if (failure is not null)
            {
                ExceptionDispatchInfo.Throw(failure);
            }

            if (broken is not null)
            {
                await context.Err.WriteLineAsync($"error: {name}: {broken.Message}; stopped there").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            return summary!.Interrupted ? ExitCodes.Interrupted
                : p.Rejected > 0 ? ExitCodes.Rejected
                : ExitCodes.Ok;
        });
        return command;
    }

    private static Stream Open(CommandContext context, string path)
    {
        if (path == "-")
        {
            return context.Env.OpenStandardInput();
        }

        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UsageException($"{path}: no such file");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{path}: {ex.Message}");
        }
    }

    private static async Task ReportRejectionsAsync(TextWriter output, ReplaySummary summary, int maxErrors)
    {
        int listed = 0;
        foreach (ReplayRejection rejection in summary.Rejections)
        {
            if (maxErrors > 0 && listed == maxErrors)
            {
                break;
            }

            string where = rejection.Line > 0 ? $"line {rejection.Line}" : "line ?";
            await output.WriteLineAsync($"{where}: {Fmt.Cell(rejection.Error, 500)}").ConfigureAwait(false);
            listed++;
        }

        long notListed = summary.Progress.Rejected - listed - summary.Unlisted.Sum(u => u.Count);
        if (notListed > 0)
        {
            await output.WriteLineAsync($"… and {Fmt.Plural(notListed, "more rejected line", "more rejected lines")} (--max-errors 0 lists all)").ConfigureAwait(false);
        }

        foreach (UnlistedRejections unlisted in summary.Unlisted)
        {
            await output.WriteLineAsync(
                $"lines {unlisted.FirstLine}-{unlisted.LastLine}: {Fmt.Plural(unlisted.Count, "more rejected event", "more rejected events")} the server did not itemise (it lists at most 100 errors per request; a smaller --batch lists more)").ConfigureAwait(false);
        }
    }

    internal static string Render(ReplayProgress p)
    {
        double rate = p.Elapsed.TotalSeconds > 0 ? p.Sent / p.Elapsed.TotalSeconds : 0;
        string counts = $"lines {p.LinesRead}  sent {p.Sent}  ok {p.Accepted}  rejected {p.Rejected}  {Fmt.Rate(rate)}/s";
        if (p.Fraction is not { } fraction)
        {
            return $"{Fmt.Bytes(p.BytesRead)}  {counts}";
        }

        string eta = fraction > 0 ? Fmt.Short(p.Elapsed * ((1 - fraction) / fraction)) : "?";
        return $"{ProgressLine.Bar(fraction)} {fraction * 100,3:0}%  {Fmt.Bytes(p.BytesRead)}/{Fmt.Bytes(p.Length!.Value)}  {counts}  ETA {eta}";
    }
}
