using System.Text;

namespace Analytics.Client.Cli;

/// <summary>
/// A plain text table: a header, a rule of dashes, and rows, with columns two spaces apart,
/// numbers right-aligned and text left-aligned, no trailing spaces.
/// </summary>
internal sealed class TextTable
{
    private readonly (string Header, bool Right)[] _columns;
    private readonly List<string[]> _rows = [];

    public TextTable(params (string Header, bool Right)[] columns)
    {
        _columns = columns;
    }

    public int RowCount => _rows.Count;

    public static (string, bool) Left(string header) => (header, false);

    public static (string, bool) Right(string header) => (header, true);

    public void Add(params string[] cells)
    {
        if (cells.Length != _columns.Length)
        {
            throw new ArgumentException($"Expected {_columns.Length} cells, got {cells.Length}.", nameof(cells));
        }

        _rows.Add(cells);
    }

    public void WriteTo(TextWriter writer)
    {
        int[] widths = new int[_columns.Length];
        for (int c = 0; c < _columns.Length; c++)
        {
            widths[c] = _columns[c].Header.Length;
            foreach (string[] row in _rows)
            {
                widths[c] = Math.Max(widths[c], row[c].Length);
            }
        }

        WriteRow(writer, widths, _columns.Select(c => c.Header).ToArray());
        WriteRow(writer, widths, widths.Select(w => new string('-', w)).ToArray());
        foreach (string[] row in _rows)
        {
            WriteRow(writer, widths, row);
        }
    }

    private void WriteRow(TextWriter writer, int[] widths, string[] cells)
    {
        var line = new StringBuilder();
        for (int c = 0; c < cells.Length; c++)
        {
            if (c > 0)
            {
                line.Append("  ");
            }

            line.Append(_columns[c].Right ? cells[c].PadLeft(widths[c]) : cells[c].PadRight(widths[c]));
        }

        writer.WriteLine(line.ToString().TrimEnd());
    }
}

/// <summary>A two-column key/value listing, keys padded to line up the values.</summary>
internal sealed class KeyValueList
{
    private readonly List<(string Key, string Value)> _rows = [];

    public void Add(string key, string value) => _rows.Add((key, value));

    public void WriteTo(TextWriter writer)
    {
        int width = _rows.Count == 0 ? 0 : _rows.Max(r => r.Key.Length);
        foreach ((string key, string value) in _rows)
        {
            writer.WriteLine($"{key.PadRight(width)}  {value}".TrimEnd());
        }
    }
}
