using System.Globalization;
using System.Text;

namespace Analytics.Events;

/// <summary>
/// Event and query timestamps: ISO-8601 with an offset or <c>Z</c>, or Unix epoch milliseconds.
/// Everything is held as epoch milliseconds (UTC) and written back as
/// <c>2026-11-21T10:00:00.250Z</c>.
/// </summary>
/// <remarks>
/// The ISO-8601 reader is hand-written rather than <c>DateTimeOffset.Parse</c> because the
/// framework quietly treats a time without an offset as local time, which the contract forbids, and
/// because it runs per event on the ingest hot path, straight on UTF-8 bytes.
/// Accepted: <c>YYYY-MM-DD(T|t| )hh:mm[:ss[(.|,)f{1,9}]](Z|z|±hh[[:]mm])</c>. Fractions finer
/// than a millisecond are truncated.
/// </remarks>
public static class TimestampParser
{
    /// <summary>Earliest accepted instant. Event time before 1970 is treated as a client bug.</summary>
    public const long MinEpochMs = 0;

    /// <summary>Latest accepted instant: 9999-12-31T23:59:59.999Z.</summary>
    public const long MaxEpochMs = 253_402_300_799_999;

    private const string Example = "2026-11-21T10:00:00.250Z";
    private const string Help = $"use ISO-8601 with an offset or Z, such as {Example}, or Unix epoch milliseconds";
    private const int MaxTextLength = 64;
    private const int UnixEpochDayNumber = 719_162; // DateOnly.DayNumber of 1970-01-01
    private const long MsPerDay = 86_400_000;

    /// <summary>
    /// Parses a query parameter (<c>from</c>, <c>to</c>). On failure <paramref name="error"/> starts
    /// with the quoted input, for the HTTP layer to prefix with the parameter name.
    /// </summary>
    public static bool TryParse(string? text, out long epochMs, out string error)
    {
        epochMs = 0;
        if (string.IsNullOrEmpty(text))
        {
            error = $"timestamp is empty; {Help}";
            return false;
        }

        if (text.Length > MaxTextLength || !Ascii.IsValid(text))
        {
            error = $"{Names.Quote(text)} is not a timestamp; {Help}";
            return false;
        }

        Span<byte> utf8 = stackalloc byte[MaxTextLength];
        int length = Encoding.ASCII.GetBytes(text, utf8);
        utf8 = utf8[..length];

        if (utf8.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0)
        {
            if (length > 15 || !long.TryParse(utf8, NumberStyles.None, CultureInfo.InvariantCulture, out epochMs))
            {
                epochMs = long.MaxValue; // certainly out of range, reported below
            }

            string? rangeError = CheckRange(epochMs, utf8);
            error = rangeError ?? string.Empty;
            return rangeError is null;
        }

        if (utf8[0] == '-' && utf8.Length > 1 && utf8[1..].IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0)
        {
            error = $"{Names.Quote(text)} is negative; epoch milliseconds start at 0 (1970-01-01T00:00:00Z)";
            return false;
        }

        string? isoError = TryParseIso8601(utf8, out epochMs);
        error = isoError ?? string.Empty;
        return isoError is null;
    }

    /// <summary>Writes <paramref name="epochMs"/> as ISO-8601 UTC with milliseconds and <c>Z</c>.</summary>
    public static string Format(long epochMs)
    {
        Span<byte> utf8 = stackalloc byte[FormattedLength];
        FormatUtf8(epochMs, utf8);
        return Encoding.ASCII.GetString(utf8);
    }

    /// <summary>Length of every <see cref="FormatUtf8"/> output: <c>yyyy-MM-ddTHH:mm:ss.fffZ</c>.</summary>
    public const int FormattedLength = 24;

    /// <summary>Writes exactly <see cref="FormattedLength"/> ASCII bytes into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside years 0001–9999.</exception>
    public static void FormatUtf8(long epochMs, Span<byte> destination)
    {
        long days = Math.DivRem(epochMs, MsPerDay, out long msOfDay);
        if (msOfDay < 0)
        {
            days--;
            msOfDay += MsPerDay;
        }

        long dayNumber = days + UnixEpochDayNumber;
        if (dayNumber < DateOnly.MinValue.DayNumber || dayNumber > DateOnly.MaxValue.DayNumber)
        {
            throw new ArgumentOutOfRangeException(nameof(epochMs), epochMs, "The timestamp is outside years 0001–9999.");
        }

        DateOnly.FromDayNumber((int)dayNumber).Deconstruct(out int year, out int month, out int day);
        int ms = (int)msOfDay;
        Span<byte> d = destination[..FormattedLength];
        Write4(d, 0, year);
        d[4] = (byte)'-';
        Write2(d, 5, month);
        d[7] = (byte)'-';
        Write2(d, 8, day);
        d[10] = (byte)'T';
        Write2(d, 11, ms / 3_600_000);
        d[13] = (byte)':';
        Write2(d, 14, ms / 60_000 % 60);
        d[16] = (byte)':';
        Write2(d, 17, ms / 1000 % 60);
        d[19] = (byte)'.';
        d[20] = (byte)('0' + ms % 1000 / 100);
        Write2(d, 21, ms % 100);
        d[23] = (byte)'Z';
    }

    /// <summary>Range check for epoch milliseconds; <paramref name="raw"/> is the input text, for the message.</summary>
    internal static string? CheckRange(long epochMs, ReadOnlySpan<byte> raw)
    {
        if (epochMs < MinEpochMs)
        {
            return $"{Names.Quote(raw)} is negative; epoch milliseconds start at 0 (1970-01-01T00:00:00Z)";
        }

        return epochMs > MaxEpochMs
            ? $"{Names.Quote(raw)} is beyond year 9999 as epoch milliseconds (the maximum is {MaxEpochMs}); epoch seconds or microseconds are not accepted"
            : null;
    }

    /// <summary>
    /// Reads ISO-8601 with a required offset. Returns <c>null</c> on success, otherwise a message
    /// starting with the quoted input.
    /// </summary>
    internal static string? TryParseIso8601(ReadOnlySpan<byte> s, out long epochMs)
    {
        epochMs = 0;
        int p = 0;
        if (!Digits(s, ref p, 4, out int year) || !Literal(s, ref p, (byte)'-')
            || !Digits(s, ref p, 2, out int month) || !Literal(s, ref p, (byte)'-')
            || !Digits(s, ref p, 2, out int day))
        {
            return NotIso(s);
        }

        if (p == s.Length)
        {
            return $"{Names.Quote(s)} has no time of day or offset; write it like {Example}";
        }

        if (s[p] is not ((byte)'T' or (byte)'t' or (byte)' '))
        {
            return NotIso(s);
        }

        p++;
        int second = 0, fractionMs = 0;
        if (!Digits(s, ref p, 2, out int hour) || !Literal(s, ref p, (byte)':') || !Digits(s, ref p, 2, out int minute))
        {
            return NotIso(s);
        }

        if (Literal(s, ref p, (byte)':'))
        {
            if (!Digits(s, ref p, 2, out second))
            {
                return NotIso(s);
            }

            if (p < s.Length && s[p] is (byte)'.' or (byte)',')
            {
                int start = ++p;
                while (p < s.Length && char.IsAsciiDigit((char)s[p]))
                {
                    if (p - start < 3)
                    {
                        fractionMs = fractionMs * 10 + (s[p] - '0');
                    }

                    p++;
                }

                int fractionDigits = p - start;
                if (fractionDigits is 0 or > 9)
                {
                    return NotIso(s);
                }

                for (int i = fractionDigits; i < 3; i++)
                {
                    fractionMs *= 10; // ".25" is 250 ms
                }
            }
        }

        if (p == s.Length)
        {
            return $"{Names.Quote(s)} has no offset, so its instant is unknown; add Z for UTC or an offset such as +01:00";
        }

        int offsetMinutes = 0;
        if (s[p] is (byte)'Z' or (byte)'z')
        {
            p++;
        }
        else if (s[p] is (byte)'+' or (byte)'-')
        {
            int sign = s[p++] == '-' ? -1 : 1;
            if (!Digits(s, ref p, 2, out int offsetHours))
            {
                return NotIso(s);
            }

            int offsetMins = 0;
            bool colon = Literal(s, ref p, (byte)':');
            if ((colon || p < s.Length) && !Digits(s, ref p, 2, out offsetMins))
            {
                return NotIso(s);
            }

            if (offsetHours > 23 || offsetMins > 59)
            {
                return $"{Names.Quote(s)} has an offset out of range; offsets go up to ±23:59";
            }

            offsetMinutes = sign * (offsetHours * 60 + offsetMins);
        }
        else
        {
            return NotIso(s);
        }

        if (p != s.Length)
        {
            return NotIso(s);
        }

        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)
            || hour > 23 || minute > 59 || second > 59)
        {
            return $"{Names.Quote(s)} is not a valid date and time of day";
        }

        long dayNumber = new DateOnly(year, month, day).DayNumber - UnixEpochDayNumber;
        epochMs = dayNumber * MsPerDay + ((hour * 60L + minute) * 60 + second) * 1000 + fractionMs
            - offsetMinutes * 60_000L;
        if (epochMs is < MinEpochMs or > MaxEpochMs)
        {
            return $"{Names.Quote(s)} is outside the supported range 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z";
        }

        return null;
    }

    private static string NotIso(ReadOnlySpan<byte> s) =>
        s.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0
            ? $"{Names.Quote(s)} is a string of digits; send epoch milliseconds as a JSON number, not a string"
            : $"{Names.Quote(s)} is not an ISO-8601 timestamp; write it like {Example}";

    private static bool Digits(ReadOnlySpan<byte> s, ref int p, int count, out int value)
    {
        value = 0;
        if (p + count > s.Length)
        {
            return false;
        }

        for (int i = 0; i < count; i++)
        {
            int digit = s[p + i] - '0';
            if ((uint)digit > 9)
            {
                return false;
            }

            value = value * 10 + digit;
        }

        p += count;
        return true;
    }

    private static bool Literal(ReadOnlySpan<byte> s, ref int p, byte expected)
    {
        if (p < s.Length && s[p] == expected)
        {
            p++;
            return true;
        }

        return false;
    }

    private static void Write2(Span<byte> d, int at, int value)
    {
        d[at] = (byte)('0' + value / 10);
        d[at + 1] = (byte)('0' + value % 10);
    }

    private static void Write4(Span<byte> d, int at, int value)
    {
        Write2(d, at, value / 100);
        Write2(d, at + 2, value % 100);
    }
}
