using System.Globalization;
using System.Text;

namespace Analytics.Bench;

/// <summary>One line of the closing summary: a measured figure against its same-run baseline and its goal.</summary>
public sealed record ResultRow(string Goal, string What, string Measured, string Baseline, string Ratio, string Target, bool? Met);

/// <summary>Collects the rows of every benchmark that ran and prints them as one table at the end.</summary>
public static class Results
{
    private static readonly List<ResultRow> Rows = [];
    private static readonly List<string> Notes = [];

    public static void Add(ResultRow row) => Rows.Add(row);

    public static void Note(string note) => Notes.Add(note);

    public static string Format(double value, string unit) => value switch
    {
        >= 1e6 => (value / 1e6).ToString("0.00", CultureInfo.InvariantCulture) + " M" + unit,
        >= 1e4 => (value / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " k" + unit,
        _ => value.ToString("0.#", CultureInfo.InvariantCulture) + " " + unit,
    };

    public static string F(double value, string format = "0.0") => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Two decimals, or three significant digits below 0.1 (Orleans' calls are a small fraction of a plain call).</summary>
    public static string Ratio(double measured, double baseline)
    {
        if (baseline == 0)
        {
            return "n/a";
        }

        var ratio = measured / baseline;
        return (ratio < 0.1 ? ratio.ToString("G3", CultureInfo.InvariantCulture) : F(ratio, "0.00")) + "x";
    }

    public static void Print(TextWriter writer)
    {
        if (Rows.Count == 0)
        {
            return;
        }

        var header = new[] { "goal", "what", "measured", "baseline (same run)", "ratio", "target", "met" };
        var cells = Rows.Select(r => new[] { r.Goal, r.What, r.Measured, r.Baseline, r.Ratio, r.Target, r.Met switch { true => "met", false => "MISSED", null => "-" } }).ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, cells.Max(c => c[i].Length))).ToArray();
        var builder = new StringBuilder();
        builder.AppendLine();
        builder.AppendLine("== Benchmark summary (ratios against baselines measured in this run) ==");
        builder.AppendLine(Line(header, widths));
        builder.AppendLine(string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (var row in cells)
        {
            builder.AppendLine(Line(row, widths));
        }

        foreach (var note in Notes)
        {
            builder.AppendLine("* " + note);
        }

        writer.Write(builder.ToString());
    }

    private static string Line(string[] cells, int[] widths) => string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i])));
}

/// <summary>Progress lines for long work, at most one a second.</summary>
public sealed class Progress(string label, long total)
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private long _lastReport;

    public void Report(long done)
    {
        var now = _clock.ElapsedMilliseconds;
        if (now - Interlocked.Read(ref _lastReport) < 1000)
        {
            return;
        }

        Interlocked.Exchange(ref _lastReport, now);
        Console.WriteLine($"  {label}: {done:N0}/{total:N0} ({100.0 * done / Math.Max(1, total):0}%) after {now / 1000.0:0.0} s");
    }
}
