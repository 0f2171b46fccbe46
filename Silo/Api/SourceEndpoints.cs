using Analytics.Events;
using Analytics.Grains;
using Orleans;

namespace Analytics.Silo.Api;

public static class SourceEndpoints
{
    public static void MapSourceEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/sources/{source}", SummaryAsync).WithName("SourceSummary").WithSummary("First and last seen, and per-metric last value and window aggregates of one source.");
        app.MapGet("/api/sources/{source}/series", SeriesAsync).WithName("SourceSeries").WithSummary("A time series of one source's metric.");
    }

    private static async Task<IResult> SummaryAsync(string source, string? window, IGrainFactory grains, HttpContext context)
    {
        source = SourceRoute.SourceOf(context, source);
        if (QueryParameters.CheckSource(source) is { } badName)
        {
            return ApiError.BadRequest(badName);
        }

        if (!QueryParameters.TryWindow(window ?? "1h", out var span, out var error))
        {
            return ApiError.BadRequest(error);
        }

        var summary = await grains.GetGrain<ISourceGrain>(source).GetSummary(span);
        return summary is null
            ? UnknownSource(source)
            : Results.Json(
                new SourceResponse(
                    source,
                    TimestampParser.Format(summary.FirstSeen),
                    TimestampParser.Format(summary.LastSeen),
                    summary.Metrics.ToDictionary(
                        m => m.Key,
                        m => new SourceMetricResponse(m.Value.Last, TimestampParser.Format(m.Value.LastTimestamp), m.Value.Count, m.Value.Min, m.Value.Max, m.Value.Mean))),
                ApiJson.Options);
    }

    private static async Task<IResult> SeriesAsync(string source, string? metric, string? from, string? to, string? step, IGrainFactory grains, TimeProvider time, HttpContext context)
    {
        source = SourceRoute.SourceOf(context, source, "/series");
        if (QueryParameters.CheckSource(source) is { } badName)
        {
            return ApiError.BadRequest(badName);
        }

        if (string.IsNullOrEmpty(metric))
        {
            return ApiError.BadRequest("metric is required, for example ?metric=temperature.");
        }

        if (QueryParameters.CheckMetric(metric) is { } badMetric)
        {
            return ApiError.BadRequest(badMetric);
        }

        if (!QueryParameters.TryRange(from, to, step, time.GetUtcNow().ToUnixTimeMilliseconds(), out var fromMs, out var toMs, out var span, out var error))
        {
            return ApiError.BadRequest(error);
        }

        var series = await grains.GetGrain<ISourceGrain>(source).GetSeries(metric, fromMs, toMs, span);
        return series is null
            ? ApiError.NotFound($"Source '{source}' has never reported metric '{metric}'.")
            : Results.Json(new SourceSeriesResponse(source, metric, DurationParser.Format(span), series.Points.Select(SeriesPointResponse.From).ToList()), ApiJson.Options);
    }

    private static IResult UnknownSource(string source) => ApiError.NotFound($"Source '{source}' has never been seen.");

    public sealed record SourceResponse(string Source, string FirstSeen, string LastSeen, IReadOnlyDictionary<string, SourceMetricResponse> Metrics);

    public sealed record SourceMetricResponse(double Last, string LastTimestamp, long Count, double? Min, double? Max, double? Mean);

    public sealed record SourceSeriesResponse(string Source, string Metric, string Step, IReadOnlyList<SeriesPointResponse> Points);
}
