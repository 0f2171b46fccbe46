using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Analytics.Events;

/// <summary>
/// The naming rules of the contract for sources, metrics and ids. The event parser and the HTTP
/// layer (which validates <c>{metric}</c> and <c>{source}</c> path parameters) share them, so a name
/// that can be ingested can always be queried and vice versa.
/// </summary>
/// <remarks>
/// Every <c>Validate*</c> method returns <c>null</c> when the name is valid and otherwise a message a
/// person can act on, starting with the field name ("source ...", "metric ...", "id ...").
/// </remarks>
public static class Names
{
    public const int MaxSourceBytes = 256;
    public const int MaxMetricLength = 128;
    public const int MaxIdLength = 128;

    // Message quotes are cut to this many characters so that one absurd input cannot blow up an
    // error listing that goes back to the client.
    private const int MaxQuotedChars = 40;

    private const string MetricCharsHelp = "use only A-Z, a-z, 0-9 and _ . : / -";

    private static readonly SearchValues<byte> MetricBytes =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-"u8);

    private static readonly SearchValues<char> MetricChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/-");

    // C0 controls and DEL are single bytes; C1 controls (U+0080–U+009F) are encoded as C2 80–C2 9F,
    // so finding a C2 lead byte is enough to start a closer look.
    private static readonly SearchValues<byte> ControlLeadBytes = SearchValues.Create(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
         26, 27, 28, 29, 30, 31, 0x7F, 0xC2]);

    public static bool IsValidMetric(string? metric, int maxLength = MaxMetricLength) =>
        ValidateMetric(metric, maxLength) is null;

    public static bool IsValidSource(string? source, int maxBytes = MaxSourceBytes) =>
        ValidateSource(source, maxBytes) is null;

    public static bool IsValidId(string? id, int maxLength = MaxIdLength) =>
        ValidateId(id, maxLength) is null;

    /// <summary>Metric: 1–<paramref name="maxLength"/> characters from <c>[A-Za-z0-9_.:/-]</c>.</summary>
    public static string? ValidateMetric(string? metric, int maxLength = MaxMetricLength)
    {
        if (string.IsNullOrEmpty(metric))
        {
            return "metric must not be empty";
        }

        int bad = metric.AsSpan().IndexOfAnyExcept(MetricChars);
        if (bad >= 0)
        {
            Rune.DecodeFromUtf16(metric.AsSpan(bad), out Rune rune, out _);
            return BadMetricChar(Quote(metric), rune, bad);
        }

        return metric.Length > maxLength
            ? $"metric is {metric.Length} characters long; the limit is {maxLength}"
            : null;
    }

    /// <summary>Source: 1–<paramref name="maxBytes"/> UTF-8 bytes with no control characters.</summary>
    public static string? ValidateSource(string? source, int maxBytes = MaxSourceBytes)
    {
        if (string.IsNullOrEmpty(source))
        {
            return "source must not be empty";
        }

        int bytes = 0;
        for (int i = 0; i < source.Length; i++)
        {
            char c = source[i];
            if (char.IsControl(c))
            {
                return ControlChar("source", c, i, "character");
            }

            if (char.IsSurrogate(c))
            {
                // A lone surrogate has no UTF-8 form; counting it as U+FFFD would silently change
                // the name, so it is refused instead.
                if (!char.IsHighSurrogate(c) || i + 1 >= source.Length || !char.IsLowSurrogate(source[i + 1]))
                {
                    return "source contains an unpaired UTF-16 surrogate; it must be valid Unicode";
                }

                bytes += 4;
                i++;
            }
            else
            {
                bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
            }
        }

        return bytes > maxBytes ? SourceTooLong(bytes, maxBytes) : null;
    }

    /// <summary>Id: optional, 1–<paramref name="maxLength"/> characters (Unicode scalar values).</summary>
    public static string? ValidateId(string? id, int maxLength = MaxIdLength)
    {
        if (id is null)
        {
            return null;
        }

        if (id.Length == 0)
        {
            return EmptyId;
        }

        // Characters are counted as Unicode scalar values so that an emoji counts once, as a
        // person would count it; the UTF-16 length is an upper bound that settles most cases.
        if (id.Length <= maxLength)
        {
            return null;
        }

        int count = 0;
        foreach (Rune _ in id.EnumerateRunes())
        {
            count++;
        }

        return count > maxLength ? IdTooLong(count, maxLength) : null;
    }

    // ---- UTF-8 forms used by the parser: they check the raw bytes before any string exists, so a
    // rejected name costs no allocation and an accepted one is decoded exactly once.

    internal static string? ValidateMetricUtf8(ReadOnlySpan<byte> metric, int maxLength, string field = "metric")
    {
        if (metric.IsEmpty)
        {
            return $"{field} must not be empty";
        }

        int bad = metric.IndexOfAnyExcept(MetricBytes);
        if (bad >= 0)
        {
            Rune.DecodeFromUtf8(metric[bad..], out Rune rune, out _);
            return BadMetricChar(Quote(metric), rune, bad, field);
        }

        // Every allowed character is one byte, so the byte count is the character count.
        return metric.Length > maxLength
            ? $"{field} is {metric.Length} characters long; the limit is {maxLength}"
            : null;
    }

    internal static string? ValidateSourceUtf8(ReadOnlySpan<byte> source, int maxBytes)
    {
        if (source.IsEmpty)
        {
            return "source must not be empty";
        }

        if (source.Length > maxBytes)
        {
            return SourceTooLong(source.Length, maxBytes);
        }

        if (!Utf8.IsValid(source))
        {
            return "source is not valid UTF-8";
        }

        int at = FindControl(source, out Rune control);
        return at >= 0 ? ControlChar("source", control, at, "byte") : null;
    }

    internal static string? ValidateIdUtf8(ReadOnlySpan<byte> id, int maxLength)
    {
        if (id.IsEmpty)
        {
            return EmptyId;
        }

        if (!Utf8.IsValid(id))
        {
            return "id is not valid UTF-8";
        }

        if (id.Length <= maxLength)
        {
            return null; // each character takes at least one byte
        }

        // Scalar values = bytes that are not continuation bytes (10xxxxxx) in valid UTF-8.
        int count = 0;
        foreach (byte b in id)
        {
            if ((b & 0xC0) != 0x80)
            {
                count++;
            }
        }

        return count > maxLength ? IdTooLong(count, maxLength) : null;
    }

    /// <summary>Quotes a value for an error message: cut to a readable length, controls escaped.</summary>
    internal static string Quote(ReadOnlySpan<byte> utf8)
    {
        // Invalid UTF-8 decodes to U+FFFD here, which is fine for a message.
        return Quote(Encoding.UTF8.GetString(utf8.Length > MaxQuotedChars * 4 ? utf8[..(MaxQuotedChars * 4)] : utf8));
    }

    internal static string Quote(string text)
    {
        var sb = new StringBuilder(Math.Min(text.Length, MaxQuotedChars) + 8);
        sb.Append('\'');
        int shown = 0;
        foreach (Rune r in text.EnumerateRunes())
        {
            if (shown++ == MaxQuotedChars)
            {
                sb.Append('…');
                break;
            }

            if (Rune.IsControl(r))
            {
                sb.Append($"\\u{r.Value:X4}");
            }
            else
            {
                sb.Append(r.ToString());
            }
        }

        return sb.Append('\'').ToString();
    }

    private const string EmptyId = "id must not be empty; leave the field out for an event without an id";

    private static string IdTooLong(int count, int max) =>
        $"id is {count} characters long; the limit is {max}";

    private static string SourceTooLong(int bytes, int max) =>
        $"source is {bytes} UTF-8 bytes long; the limit is {max} bytes";

    private static string BadMetricChar(string quoted, Rune rune, int position, string field = "metric")
    {
        string shown = Rune.IsControl(rune) || Rune.IsWhiteSpace(rune)
            ? $"U+{rune.Value:X4}"
            : $"'{rune}' (U+{rune.Value:X4})";
        return $"{field} {quoted} contains {shown} at position {position}; {MetricCharsHelp}";
    }

    private static string ControlChar(string field, Rune c, int position, string unit) =>
        $"{field} contains the control character U+{c.Value:X4} at {unit} {position}; control characters are not allowed";

    private static string ControlChar(string field, char c, int position, string unit) =>
        ControlChar(field, new Rune(c), position, unit);

    private static int FindControl(ReadOnlySpan<byte> utf8, out Rune control)
    {
        int offset = 0;
        while (true)
        {
            int i = utf8[offset..].IndexOfAny(ControlLeadBytes);
            if (i < 0)
            {
                control = default;
                return -1;
            }

            i += offset;
            byte b = utf8[i];
            if (b != 0xC2)
            {
                control = new Rune(b);
                return i;
            }

            // The input is valid UTF-8 here, so a C2 lead byte always has a continuation byte.
            byte next = utf8[i + 1];
            if (next is >= 0x80 and <= 0x9F)
            {
                control = new Rune(next);
                return i;
            }

            offset = i + 1;
        }
    }
}
