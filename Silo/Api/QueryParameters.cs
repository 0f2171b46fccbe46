using Analytics.Events;
using Analytics.Grains;

namespace Analytics.Silo.Api;

/// <summary>Parses and checks query parameters; each failure is a message a person can act on.</summary>
internal static class QueryParameters
{
    public const int MaxPoints = 10_000;

    public static bool TryWindow(string? text, out TimeSpan window, out string error)
    {
        if (string.IsNullOrEmpty(text))
        {
            window = TimeSpan.FromMinutes(5);
            error = "";
            return true;
        }

        if (!DurationParser.TryParse(text, out window, out var reason))
        {
            error = $"window: {reason}";
            return false;
        }

        error = "";
        return true;
    }

    public static bool TryRange(string? fromText, string? toText, string? stepText, long nowMs, out long from, out long to, out TimeSpan step, out string error)
    {
        from = to = 0;
        step = TimeSpan.FromMinutes(1);
        error = "";
        if (!string.IsNullOrEmpty(stepText) && !DurationParser.TryParse(stepText, out step, out var stepError))
        {
            error = $"step: {stepError}";
            return false;
        }

        to = nowMs;
        if (!string.IsNullOrEmpty(toText) && !TimestampParser.TryParse(toText, out to, out var toError))
        {
            error = $"to: {toError}";
            return false;
        }

        from = to - (long)TimeSpan.FromHours(1).TotalMilliseconds;
        if (!string.IsNullOrEmpty(fromText) && !TimestampParser.TryParse(fromText, out from, out var fromError))
        {
            error = $"from: {fromError}";
            return false;
        }

        if (from >= to)
        {
            error = $"from ({TimestampParser.Format(from)}) must be before to ({TimestampParser.Format(to)}).";
            return false;
        }

        var points = (to - from) / (long)step.TotalMilliseconds;
        if (points > MaxPoints)
        {
            error = $"from..to at step {DurationParser.Format(step)} gives {points} points; the most is {MaxPoints}. Use a larger step or a shorter range.";
            return false;
        }

        return true;
    }

    public static bool TryTop(string? kText, string? byText, out int k, out TopOrder by, out string error)
    {
        k = 10;
        by = TopOrder.Count;
        error = "";
        if (!string.IsNullOrEmpty(kText) && (!int.TryParse(kText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out k) || k is < 1 or > 1000))
        {
            error = $"k must be a whole number from 1 to 1000, not '{kText}'.";
            return false;
        }

        if (!string.IsNullOrEmpty(byText))
        {
            switch (byText)
            {
                case "count": by = TopOrder.Count; break;
                case "max": by = TopOrder.Max; break;
                case "mean": by = TopOrder.Mean; break;
                default:
                    error = $"by must be count, max or mean, not '{byText}'.";
                    return false;
            }
        }

        return true;
    }

    public static string? CheckMetric(string metric) => Names.ValidateMetric(metric) is { } error ? $"metric: {error}" : null;

    public static string? CheckSource(string source) => Names.ValidateSource(source) is { } error ? $"source: {error}" : null;
}
