using Analytics.Grains;
using Analytics.Silo.Api;

namespace Analytics.Silo.Dashboard;

/// <summary>What a dashboard asks the live feed for: a metric (or none, for the list only), a window, and the order of top sources.</summary>
internal sealed record LiveQuery(string? Metric, TimeSpan Window, TopOrder By)
{
    /// <summary>Top sources shown per metric.</summary>
    public const int TopCount = 10;

    /// <summary>Enough points for a readable chart at phone width and at 1280 px; more would only be thinner bars.</summary>
    private const int MaxPoints = 200;

    // Steps are multiples of the metric grains' bucket sizes (10 s, 1 min, 1 h by default), so the
    // series comes from the finest tier that still holds the window.
    private static readonly TimeSpan[] Steps =
    [
        TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15),
        TimeSpan.FromHours(1), TimeSpan.FromHours(6), TimeSpan.FromDays(1),
    ];

    /// <summary>The chart's step: the finest that keeps the window within <see cref="MaxPoints"/> points (5m: 10 s, 1h: 1 min, 24h: 15 min).</summary>
    public TimeSpan Step => Steps.FirstOrDefault(s => Window / s <= MaxPoints, Steps[^1]);

    /// <summary>The chart's range: whole steps ending with the one that holds <paramref name="nowMs"/>, covering the window.</summary>
    public (long FromMs, long ToMs) Range(long nowMs)
    {
        var stepMs = (long)Step.TotalMilliseconds;
        var currentStep = nowMs - (nowMs % stepMs);
        return (currentStep + stepMs - (long)Window.TotalMilliseconds, nowMs);
    }

    /// <summary>The same checks and messages as the metric endpoints (<see cref="QueryParameters"/>).</summary>
    public static bool TryParse(string? metric, string? window, string? by, out LiveQuery query, out string error)
    {
        query = new LiveQuery(null, TimeSpan.FromMinutes(5), TopOrder.Count);
        if (!string.IsNullOrEmpty(metric) && QueryParameters.CheckMetric(metric) is { } badName)
        {
            error = badName;
            return false;
        }

        if (!QueryParameters.TryWindow(window, out var span, out error) || !QueryParameters.TryTop(null, by, out _, out var order, out error))
        {
            return false;
        }

        query = new LiveQuery(string.IsNullOrEmpty(metric) ? null : metric, span, order);
        return true;
    }
}
