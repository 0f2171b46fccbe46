using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Metrics;
using Orleans;

namespace Analytics.Silo.Api;

/// <summary>The metric queries: each calls the metric's grain, wherever it lives.</summary>
public static class MetricEndpoints
{
    public static void MapMetricEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/metrics", async (IGrainFactory grains) => Results.Json(await ListAsync(grains), ApiJson.Options))
            .WithName("ListMetrics").WithSummary("Lists the metrics seen so far.");

        app.MapGet("/api/metrics/{metric}/stats", StatsAsync).WithName("MetricStats").WithSummary("Count, sum, min, max, mean, percentiles, distinct sources and late count over a window ending now.");
        app.MapGet("/api/metrics/{metric}/series", SeriesAsync).WithName("MetricSeries").WithSummary("A time series of the metric at a step.");
        app.MapGet("/api/metrics/{metric}/top", TopAsync).WithName("MetricTop").WithSummary("The top sources of the metric by count, max or mean.");
    }

    private static async Task<IResult> StatsAsync(string metric, string? window, IGrainFactory grains, LocalMetrics local)
    {
        if (QueryParameters.CheckMetric(metric) is { } badName)
        {
            return ApiError.BadRequest(badName);
        }

        if (!QueryParameters.TryWindow(window, out var span, out var error))
        {
            return ApiError.BadRequest(error);
        }

        return await QueryStatsAsync(grains, local, metric, span) is { } stats ? Results.Json(stats, ApiJson.Options) : UnknownMetric(metric);
    }

    private static async Task<IResult> SeriesAsync(string metric, string? from, string? to, string? step, IGrainFactory grains, LocalMetrics local, TimeProvider time)
    {
        if (QueryParameters.CheckMetric(metric) is { } badName)
        {
            return ApiError.BadRequest(badName);
        }

        if (!QueryParameters.TryRange(from, to, step, time.GetUtcNow().ToUnixTimeMilliseconds(), out var fromMs, out var toMs, out var span, out var error))
        {
            return ApiError.BadRequest(error);
        }

        return await QuerySeriesAsync(grains, local, metric, fromMs, toMs, span) is { } series ? Results.Json(series, ApiJson.Options) : UnknownMetric(metric);
    }

    private static async Task<IResult> TopAsync(string metric, string? window, string? k, string? by, IGrainFactory grains, LocalMetrics local)
    {
        if (QueryParameters.CheckMetric(metric) is { } badName)
        {
            return ApiError.BadRequest(badName);
        }

        if (!QueryParameters.TryWindow(window, out var span, out var error) || !QueryParameters.TryTop(k, by, out var count, out var order, out error))
        {
            return ApiError.BadRequest(error);
        }

        return await QueryTopAsync(grains, local, metric, span, count, order) is { } top ? Results.Json(top, ApiJson.Options) : UnknownMetric(metric);
    }

    // The queries below are shared by these endpoints and the dashboard's live stream
    // (Silo/Dashboard), so a chart and the API never disagree on a number. Each returns null for a
    // metric never seen; arguments are checked by the caller (QueryParameters).

    public static async Task<IReadOnlyList<MetricName>> ListAsync(IGrainFactory grains) =>
        (await grains.GetGrain<IMetricCatalogGrain>("all").List()).Select(m => new MetricName(m)).ToList();

    // A metric whose grain is active in this silo is read in place (LocalMetrics: no trips through
    // the thread pool's queues); any other goes to its grain, wherever it lives.

    public static async Task<StatsResponse?> QueryStatsAsync(IGrainFactory grains, LocalMetrics local, string metric, TimeSpan window) =>
        (local.TryGet(metric, out var here) ? here.Stats(window) : await grains.GetGrain<IMetricGrain>(metric).GetStats(window)) is { } stats
            ? new StatsResponse(metric, DurationParser.Format(window), TimestampParser.Format(stats.FromMs), TimestampParser.Format(stats.ToMs),
                stats.Count, stats.Sum, stats.Min, stats.Max, stats.Mean, stats.P50, stats.P90, stats.P95, stats.P99, stats.DistinctSources, stats.Late)
            : null;

    public static async Task<MetricSeriesResponse?> QuerySeriesAsync(IGrainFactory grains, LocalMetrics local, string metric, long fromMs, long toMs, TimeSpan step) =>
        (local.TryGet(metric, out var here) ? here.Series(fromMs, toMs, step) : await grains.GetGrain<IMetricGrain>(metric).GetSeries(fromMs, toMs, step)) is { } series
            ? new MetricSeriesResponse(metric, DurationParser.Format(step), series.Points.Select(SeriesPointResponse.From).ToList())
            : null;

    public static async Task<TopResponse?> QueryTopAsync(IGrainFactory grains, LocalMetrics local, string metric, TimeSpan window, int k, TopOrder by) =>
        (local.TryGet(metric, out var here) ? here.Top(window, k, by) : await grains.GetGrain<IMetricGrain>(metric).GetTop(window, k, by)) is { } top
            ? new TopResponse(metric, DurationParser.Format(window), by.ToString().ToLowerInvariant(), top.Items.Select(i => new TopItemResponse(i.Source, i.Count, i.Max, i.Mean)).ToList())
            : null;

    public static string UnknownMetricMessage(string metric) => $"Metric '{metric}' has never been seen.";

    private static IResult UnknownMetric(string metric) => ApiError.NotFound(UnknownMetricMessage(metric));

    public sealed record MetricName(string Metric);

    public sealed record StatsResponse(string Metric, string Window, string From, string To, long Count, double Sum, double? Min, double? Max, double? Mean,
        double? P50, double? P90, double? P95, double? P99, long DistinctSources, long Late);

    public sealed record MetricSeriesResponse(string Metric, string Step, IReadOnlyList<SeriesPointResponse> Points);

    public sealed record TopResponse(string Metric, string Window, string By, IReadOnlyList<TopItemResponse> Items);

    public sealed record TopItemResponse(string Source, long Count, double Max, double Mean);
}

public sealed record SeriesPointResponse(string T, long Count, double Sum, double? Min, double? Max, double? Mean, double? P50, double? P99)
{
    public static SeriesPointResponse From(SeriesPoint p) => new(TimestampParser.Format(p.T), p.Count, p.Sum, p.Min, p.Max, p.Mean, p.P50, p.P99);
}
