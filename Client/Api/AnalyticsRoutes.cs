using System.Globalization;
using System.Text;
using Analytics.Events;

namespace Analytics.Client;

/// <summary>
/// The relative addresses of the HTTP API, with path parameters escaped and query parameters
/// written in the contract's forms (durations such as <c>5m</c>, ISO-8601 UTC timestamps). They
/// are relative (no leading <c>/</c>) so that a base address with a path prefix keeps it.
/// </summary>
public static class AnalyticsRoutes
{
    public const string Events = "api/events";
    public const string Metrics = "api/metrics";
    public const string Cluster = "api/cluster";
    public const string Live = "health/live";
    public const string Ready = "health/ready";

    public static string Stats(string metric, TimeSpan? window = null) =>
        Build($"api/metrics/{Escape(metric)}/stats", ("window", Duration(window)));

    public static string Series(string metric, DateTimeOffset? from = null, DateTimeOffset? to = null, TimeSpan? step = null) =>
        Build($"api/metrics/{Escape(metric)}/series", ("from", Timestamp(from)), ("to", Timestamp(to)), ("step", Duration(step)));

    public static string Top(string metric, TimeSpan? window = null, int? k = null, TopOrder? by = null) =>
        Build($"api/metrics/{Escape(metric)}/top",
            ("window", Duration(window)),
            ("k", k?.ToString(CultureInfo.InvariantCulture)),
            ("by", by?.ToString().ToLowerInvariant()));

    public static string Source(string source, TimeSpan? window = null) =>
        Build($"api/sources/{Escape(source)}", ("window", Duration(window)));

    public static string SourceSeries(string source, string metric, DateTimeOffset? from = null, DateTimeOffset? to = null, TimeSpan? step = null) =>
        Build($"api/sources/{Escape(source)}/series",
            ("metric", metric), ("from", Timestamp(from)), ("to", Timestamp(to)), ("step", Duration(step)));

    public static string DeadLetters(int? limit = null) =>
        Build("api/dead-letters", ("limit", limit?.ToString(CultureInfo.InvariantCulture)));

    /// <summary>A contract duration: <c>5m</c>, <c>1h</c>. Throws for sub-second or non-positive values.</summary>
    public static string? Duration(TimeSpan? value)
    {
        if (value is not { } span)
        {
            return null;
        }

        if (span <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "A duration must be positive.");
        }

        return DurationParser.Format(span);
    }

    /// <summary>A contract timestamp: ISO-8601 UTC with milliseconds and <c>Z</c>.</summary>
    public static string? Timestamp(DateTimeOffset? value) =>
        value is { } t ? TimestampParser.Format(t.ToUnixTimeMilliseconds()) : null;

    private static string Escape(string segment)
    {
        ArgumentException.ThrowIfNullOrEmpty(segment);

        // Every reserved character is escaped, '/' (allowed in metric names) included, so a name
        // is always exactly one path segment.
        return Uri.EscapeDataString(segment);
    }

    private static string Build(string path, params (string Name, string? Value)[] query)
    {
        var sb = new StringBuilder(path);
        char separator = '?';
        foreach ((string name, string? value) in query)
        {
            if (value is null)
            {
                continue;
            }

            sb.Append(separator).Append(name).Append('=').Append(Uri.EscapeDataString(value));
            separator = '&';
        }

        return sb.ToString();
    }
}
