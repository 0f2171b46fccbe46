using System.Globalization;
using System.Text;

namespace Analytics.Client.Cli;

/// <summary>How the tool writes numbers, times and sizes: invariant culture, no thousands separators.</summary>
internal static class Fmt
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>Null as <c>-</c>; whole numbers as such; otherwise up to 3 decimals, or 4 significant digits when very large or small.</summary>
    public static string Number(double? value)
    {
        if (value is not { } v)
        {
            return "-";
        }

        if (double.IsNaN(v))
        {
            return "NaN";
        }

        if (double.IsInfinity(v))
        {
            return v > 0 ? "inf" : "-inf";
        }

        double abs = Math.Abs(v);
        if (abs != 0 && (abs >= 1e12 || abs < 1e-3))
        {
            return v.ToString("0.###e+0", C);
        }

        return v.ToString("0.###", C);
    }

    public static string Count(long value) => value.ToString(C);

    /// <summary>ISO-8601 UTC, with milliseconds only when there are some.</summary>
    public static string Time(DateTimeOffset? value)
    {
        if (value is not { } t)
        {
            return "-";
        }

        t = t.ToUniversalTime();
        return t.Millisecond == 0
            ? t.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", C)
            : t.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", C);
    }

    public static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(value.TotalSeconds < 10 ? "0.00" : "0.0", C) + " s";

    /// <summary>A short duration for ETAs: <c>42s</c>, <c>3m05s</c>, <c>2h03m</c>.</summary>
    public static string Short(TimeSpan value)
    {
        if (value < TimeSpan.Zero)
        {
            value = TimeSpan.Zero;
        }

        return value.TotalSeconds < 60 ? $"{(int)value.TotalSeconds}s"
            : value.TotalHours < 1 ? $"{(int)value.TotalMinutes}m{value.Seconds:00}s"
            : $"{(int)value.TotalHours}h{value.Minutes:00}m";
    }

    public static string Rate(double perSecond) => perSecond.ToString(perSecond < 100 ? "0.#" : "0", C);

    public static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.0", C) + " KiB",
        < 1024L * 1024 * 1024 => (bytes / (1024.0 * 1024)).ToString("0.0", C) + " MiB",
        _ => (bytes / (1024.0 * 1024 * 1024)).ToString("0.00", C) + " GiB",
    };

    /// <summary>Text for one table cell: control characters escaped, cut to <paramref name="max"/> characters.</summary>
    public static string Cell(string? text, int max = 60)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "-";
        }

        var sb = new StringBuilder(Math.Min(text.Length, max + 1));
        foreach (char c in text)
        {
            if (sb.Length >= max)
            {
                sb.Append('…');
                break;
            }

            sb.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }

        return sb.ToString();
    }

    public static string Plural(long count, string one, string many) => $"{count} {(count == 1 ? one : many)}";
}
