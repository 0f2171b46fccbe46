using System.CommandLine;

namespace Analytics.Client.Cli;

/// <summary><c>analytics query …</c>: the metric and source queries, as tables or raw JSON.</summary>
internal static class QueryCommands
{
    public static Command Create(CliEnvironment env, Option<Uri> url)
    {
        var json = CliOptions.Json();
        var query = new Command("query", "Query metrics and sources; prints tables, or the server's JSON with --json.")
        {
            json,
        };
        query.Subcommands.Add(Metrics(env, url, json));
        query.Subcommands.Add(Stats(env, url, json));
        query.Subcommands.Add(Series(env, url, json));
        query.Subcommands.Add(Top(env, url, json));
        query.Subcommands.Add(Source(env, url, json));
        query.Subcommands.Add(SourceSeries(env, url, json));
        return query;
    }

    private static Command Metrics(CliEnvironment env, Option<Uri> url, Option<bool> json)
    {
        var command = new Command("metrics", "List the metrics seen so far.");
        command.SetHandler(env, url, async context =>
        {
            using AnalyticsHttpClient client = context.CreateClient();
            if (context.Get(json))
            {
                return await PrintRawAsync(context, client, AnalyticsRoutes.Metrics, null).ConfigureAwait(false);
            }

            IReadOnlyList<MetricInfo> metrics = await client.ListMetricsAsync(context.Cancellation).ConfigureAwait(false);
            if (metrics.Count == 0)
            {
                await context.Out.WriteLineAsync("no metrics yet; send some events first (analytics send)").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = new TextTable(TextTable.Left("metric"));
            foreach (MetricInfo metric in metrics.OrderBy(m => m.Metric, StringComparer.Ordinal))
            {
                table.Add(metric.Metric);
            }

            table.WriteTo(context.Out);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Stats(CliEnvironment env, Option<Uri> url, Option<bool> json)
    {
        var metric = CliOptions.Metric();
        var window = CliOptions.Duration("--window", "The window, ending now (30s, 5m, 1h, 7d). [default: 5m]");
        var command = new Command("stats", "Count, sum, min, max, mean, percentiles, distinct sources and late events of a metric over a window.")
        {
            metric, window,
        };
        command.SetHandler(env, url, async context =>
        {
            string name = context.Get(metric);
            using AnalyticsHttpClient client = context.CreateClient();
            return await RunQueryAsync(context, client, json, AnalyticsRoutes.Stats(name, context.Get(window)), NotFoundMetric(name), () => client.GetStatsAsync(name, context.Get(window), context.Cancellation), stats =>
            {
                var list = new KeyValueList();
                list.Add("metric", stats.Metric);
                list.Add("window", $"{stats.Window ?? "-"} ({Fmt.Time(stats.From)} to {Fmt.Time(stats.To)})");
                list.Add("count", Fmt.Count(stats.Count));
                list.Add("sum", Fmt.Number(stats.Sum));
                list.Add("min", Fmt.Number(stats.Min));
                list.Add("max", Fmt.Number(stats.Max));
                list.Add("mean", Fmt.Number(stats.Mean));
                list.Add("p50", Fmt.Number(stats.P50));
                list.Add("p90", Fmt.Number(stats.P90));
                list.Add("p95", Fmt.Number(stats.P95));
                list.Add("p99", Fmt.Number(stats.P99));
                list.Add("distinct sources", Fmt.Count(stats.DistinctSources));
                list.Add("late", Fmt.Count(stats.Late));
                list.WriteTo(context.Out);
            }).ConfigureAwait(false);
        });
        return command;
    }

    private static Command Series(CliEnvironment env, Option<Uri> url, Option<bool> json)
    {
        var metric = CliOptions.Metric();
        var (from, to, step) = RangeOptions();
        var command = new Command("series", "A metric's time series: one row per step, empty steps included.")
        {
            metric, from, to, step,
        };
        command.SetHandler(env, url, async context =>
        {
            string name = context.Get(metric);
            (DateTimeOffset? f, DateTimeOffset? t) = ResolveRange(context, from, to);
            using AnalyticsHttpClient client = context.CreateClient();
            return await RunQueryAsync(context, client, json, AnalyticsRoutes.Series(name, f, t, context.Get(step)), NotFoundMetric(name), () => client.GetSeriesAsync(name, f, t, context.Get(step), context.Cancellation), series =>
            {
                context.Out.WriteLine($"{series.Metric}, step {series.Step ?? "-"}");
                WritePoints(context.Out, series.Points);
            }).ConfigureAwait(false);
        });
        return command;
    }

    private static Command Top(CliEnvironment env, Option<Uri> url, Option<bool> json)
    {
        var metric = CliOptions.Metric();
        var window = CliOptions.Duration("--window", "The window, ending now. [default: 5m]");
        var k = new Option<int?>("--k") { Description = "How many sources to list (1–1000). [default: 10]", HelpName = "n" };
        k.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1 or > 1000)
            {
                result.AddError("--k must be from 1 to 1000");
            }
        });
        var by = new Option<string?>("--by") { Description = "Rank sources by count, max or mean. [default: count]", HelpName = "count|max|mean" }
            .OneOf("count", "max", "mean");
        var command = new Command("top", "The top sources of a metric over a window, by count, max or mean.")
        {
            metric, window, k, by,
        };
        command.SetHandler(env, url, async context =>
        {
            string name = context.Get(metric);
            TopOrder? order = context.Get(by) switch
            {
                "count" => TopOrder.Count,
                "max" => TopOrder.Max,
                "mean" => TopOrder.Mean,
                _ => null,
            };
            using AnalyticsHttpClient client = context.CreateClient();
            return await RunQueryAsync(context, client, json, AnalyticsRoutes.Top(name, context.Get(window), context.Get(k), order), NotFoundMetric(name), () => client.GetTopAsync(name, context.Get(window), context.Get(k), order, context.Cancellation), top =>
            {
                context.Out.WriteLine($"{top.Metric}, window {top.Window ?? "-"}, by {top.By ?? "-"}");
                var table = new TextTable(TextTable.Right("#"), TextTable.Left("source"), TextTable.Right("count"), TextTable.Right("max"), TextTable.Right("mean"));
                int rank = 1;
                foreach (TopItem item in top.Items)
                {
                    table.Add(Fmt.Count(rank++), Fmt.Cell(item.Source), Fmt.Count(item.Count), Fmt.Number(item.Max), Fmt.Number(item.Mean));
                }

                table.WriteTo(context.Out);
            }).ConfigureAwait(false);
        });
        return command;
    }

    private static Command Source(CliEnvironment env, Option<Uri> url, Option<bool> json)
    {
        var source = CliOptions.Source();
        var window = CliOptions.Duration("--window", "The window of the per-metric aggregates, ending now. [default: 1h]");
        var command = new Command("source", "A source's first and last sighting, and per metric its last value and aggregates over a window.")
        {
            source, window,
        };
        command.SetHandler(env, url, async context =>
        {
            string name = context.Get(source);
            using AnalyticsHttpClient client = context.CreateClient();
            return await RunQueryAsync(context, client, json, AnalyticsRoutes.Source(name, context.Get(window)), NotFoundSource(name), () => client.GetSourceAsync(name, context.Get(window), context.Cancellation), summary =>
            {
                var list = new KeyValueList();
                list.Add("source", Fmt.Cell(summary.Source, 256));
                list.Add("first seen", Fmt.Time(summary.FirstSeen));
                list.Add("last seen", Fmt.Time(summary.LastSeen));
                list.WriteTo(context.Out);
                context.Out.WriteLine();

                var table = new TextTable(
                    TextTable.Left("metric"), TextTable.Right("last"), TextTable.Left("last at"),
                    TextTable.Right("count"), TextTable.Right("min"), TextTable.Right("max"), TextTable.Right("mean"));
                foreach ((string metric, SourceMetricSummary m) in summary.Metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    table.Add(metric, Fmt.Number(m.Last), Fmt.Time(m.LastTimestamp), Fmt.Count(m.Count), Fmt.Number(m.Min), Fmt.Number(m.Max), Fmt.Number(m.Mean));
                }

                table.WriteTo(context.Out);
            }).ConfigureAwait(false);
        });
        return command;
    }

    private static Command SourceSeries(CliEnvironment env, Option<Uri> url, Option<bool> json)
    {
        var source = CliOptions.Source();
        var metric = CliOptions.MetricOption("The metric of the series (required).");
        var (from, to, step) = RangeOptions();
        var command = new Command("source-series", "One source's time series of one metric.")
        {
            source, metric, from, to, step,
        };
        command.SetHandler(env, url, async context =>
        {
            string sourceName = context.Get(source);
            string metricName = context.Get(metric)!;
            (DateTimeOffset? f, DateTimeOffset? t) = ResolveRange(context, from, to);
            string missing = $"source '{sourceName}' has never been seen, or has never reported metric '{metricName}'";
            using AnalyticsHttpClient client = context.CreateClient();
            return await RunQueryAsync(context, client, json, AnalyticsRoutes.SourceSeries(sourceName, metricName, f, t, context.Get(step)), missing, () => client.GetSourceSeriesAsync(sourceName, metricName, f, t, context.Get(step), context.Cancellation), series =>
            {
                context.Out.WriteLine($"{series.Source ?? sourceName} {series.Metric ?? metricName}, step {series.Step ?? "-"}");
                WritePoints(context.Out, series.Points);
            }).ConfigureAwait(false);
        });
        return command;
    }

    private static (Option<TimeSpec?> From, Option<TimeSpec?> To, Option<TimeSpan?> Step) RangeOptions() => (
        CliOptions.Time("--from", "Start: ISO-8601 (2026-11-21T10:00:00Z), epoch milliseconds, or a duration ago (1h). [default: an hour before --to]"),
        CliOptions.Time("--to", "End: as --from, or now. [default: now]"),
        CliOptions.Duration("--step", "The step of the series (10s, 1m, 1h). [default: 1m]"));

    /// <summary>Turns relative times into instants, and checks that from is before to.</summary>
    private static (DateTimeOffset? From, DateTimeOffset? To) ResolveRange(CommandContext context, Option<TimeSpec?> from, Option<TimeSpec?> to)
    {
        DateTimeOffset now = context.Env.UtcNow();
        DateTimeOffset? f = context.Get(from)?.Resolve(now);
        DateTimeOffset? t = context.Get(to)?.Resolve(now);
        DateTimeOffset effectiveTo = t ?? now;
        if (f is { } start && start >= effectiveTo)
        {
            throw new UsageException($"--from ({Fmt.Time(start)}) must be before --to ({Fmt.Time(effectiveTo)})");
        }

        return (f, t);
    }

    private static void WritePoints(TextWriter output, IReadOnlyList<SeriesPoint> points)
    {
        var table = new TextTable(
            TextTable.Left("time"), TextTable.Right("count"), TextTable.Right("mean"), TextTable.Right("min"),
            TextTable.Right("max"), TextTable.Right("p50"), TextTable.Right("p99"), TextTable.Right("sum"));
        foreach (SeriesPoint p in points)
        {
            table.Add(Fmt.Time(p.T), Fmt.Count(p.Count), Fmt.Number(p.Mean), Fmt.Number(p.Min), Fmt.Number(p.Max),
                Fmt.Number(p.P50), Fmt.Number(p.P99), p.Count == 0 ? "-" : Fmt.Number(p.Sum));
        }

        table.WriteTo(output);
    }

    private static string NotFoundMetric(string metric) =>
        $"metric '{metric}' has never been seen (analytics query metrics lists the known ones)";

    private static string NotFoundSource(string source) => $"source '{source}' has never been seen";

    /// <summary>
    /// The shape of every query: the answer's JSON as it came with --json; otherwise the typed
    /// answer, rendered, or "not found" (exit 3) when the server has never seen the metric or source.
    /// </summary>
    private static async Task<int> RunQueryAsync<T>(CommandContext context, AnalyticsHttpClient client, Option<bool> json, string route, string notFound, Func<Task<T?>> fetch, Action<T> render)
        where T : class
    {
        if (context.Get(json))
        {
            return await PrintRawAsync(context, client, route, notFound).ConfigureAwait(false);
        }

        T? answer = await fetch().ConfigureAwait(false);
        if (answer is null)
        {
            return await NotFoundAsync(context, notFound).ConfigureAwait(false);
        }

        render(answer);
        return ExitCodes.Ok;
    }

    private static async Task<int> NotFoundAsync(CommandContext context, string message)
    {
        await context.Err.WriteLineAsync($"not found: {message}").ConfigureAwait(false);
        return ExitCodes.NotFound;
    }

    /// <summary>Prints the answer's JSON as it came; a 404 is reported as not found (exit 3), unless <paramref name="notFound"/> is null.</summary>
    internal static async Task<int> PrintRawAsync(CommandContext context, AnalyticsHttpClient client, string route, string? notFound)
    {
        string? body = await client.GetRawAsync(route, context.Cancellation).ConfigureAwait(false);
        if (body is null)
        {
            if (notFound is null)
            {
                throw new AnalyticsApiException(System.Net.HttpStatusCode.NotFound, $"{route} was not found; is this the analytics API?");
            }

            return await NotFoundAsync(context, notFound).ConfigureAwait(false);
        }

        await context.Out.WriteLineAsync(body.TrimEnd()).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}
