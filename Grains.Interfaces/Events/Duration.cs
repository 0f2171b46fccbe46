using System.Globalization;

namespace Analytics.Events;

/// <summary>
/// Contract durations (<c>window</c>, <c>step</c>): a positive whole number and one unit of
/// <c>s</c>, <c>m</c>, <c>h</c> or <c>d</c>, such as <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>7d</c>.
/// </summary>
/// <remarks>
/// The grammar is deliberately narrow (no fractions, no compound forms like <c>1h30m</c>, no
/// milliseconds, lower-case units only) so that every accepted text has one meaning and
/// <see cref="Format"/> can write a canonical form back.
/// </remarks>
public static class DurationParser
{
    /// <summary>The longest duration accepted: a leap year, enough for any retained window.</summary>
    public static readonly TimeSpan MaxValue = TimeSpan.FromDays(366);

    private const string Help = "write a positive whole number followed by s, m, h or d, such as 30s, 5m, 1h or 7d";

    // Nine digits exceed 366d in any unit, so more digits are an overflow without arithmetic.
    private const int MaxDigits = 9;

    /// <summary>
    /// Parses <paramref name="text"/>. On failure <paramref name="error"/> is a message that starts
    /// with the quoted input, for the HTTP layer to prefix with the parameter name.
    /// </summary>
    public static bool TryParse(string? text, out TimeSpan value, out string error)
    {
        value = default;
        if (string.IsNullOrEmpty(text))
        {
            error = $"duration is empty; {Help}";
            return false;
        }

        string quoted = Names.Quote(text);
        if (text[0] == '-')
        {
            error = $"{quoted} is negative; a duration must be positive";
            return false;
        }

        int digits = 0;
        while (digits < text.Length && char.IsAsciiDigit(text[digits]))
        {
            digits++;
        }

        if (digits == 0)
        {
            error = $"{quoted} is not a duration; {Help}";
            return false;
        }

        ReadOnlySpan<char> unit = text.AsSpan(digits);
        if (unit.Length > 1 && unit[0] is ('.' or ',') && char.IsAsciiDigit(unit[1]))
        {
            error = $"{quoted} is not a whole number; use a smaller unit instead, such as 90m for 1.5h";
            return false;
        }

        if (unit.IsEmpty)
        {
            error = $"{quoted} has no unit; add s, m, h or d, such as {text}s";
            return false;
        }

        long unitSeconds = unit switch
        {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => 0,
        };
        if (unitSeconds == 0)
        {
            error = $"{quoted} has the unit {Names.Quote(unit.ToString())}, which is not supported; use s, m, h or d (lower case)";
            return false;
        }

        if (digits > MaxDigits)
        {
            error = $"{quoted} is longer than the maximum of {Format(MaxValue)}";
            return false;
        }

        long count = long.Parse(text.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture);
        if (count == 0)
        {
            error = $"{quoted} is zero; a duration must be positive";
            return false;
        }

        long seconds = count * unitSeconds;
        if (seconds > (long)MaxValue.TotalSeconds)
        {
            error = $"{quoted} is longer than the maximum of {Format(MaxValue)}";
            return false;
        }

        value = TimeSpan.FromSeconds(seconds);
        error = string.Empty;
        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/> with the same message as <see cref="TryParse"/>.</summary>
    public static TimeSpan Parse(string text) =>
        TryParse(text, out TimeSpan value, out string error) ? value : throw new FormatException(error);

    /// <summary>
    /// Writes the canonical form: the largest unit that divides the duration exactly
    /// (<c>300s</c> → <c>5m</c>, <c>90m</c> stays <c>90m</c>, <c>86400s</c> → <c>1d</c>); zero is <c>0s</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative, or not a whole number of seconds.</exception>
    public static string Format(TimeSpan value)
    {
        if (value < TimeSpan.Zero || value.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(value), value,
                "Only non-negative whole numbers of seconds can be written as a duration.");
        }

        long ticks = value.Ticks;
        (long unitTicks, char unit) = ticks == 0 ? (TimeSpan.TicksPerSecond, 's')
            : ticks % TimeSpan.TicksPerDay == 0 ? (TimeSpan.TicksPerDay, 'd')
            : ticks % TimeSpan.TicksPerHour == 0 ? (TimeSpan.TicksPerHour, 'h')
            : ticks % TimeSpan.TicksPerMinute == 0 ? (TimeSpan.TicksPerMinute, 'm')
            : (TimeSpan.TicksPerSecond, 's');
        return string.Create(CultureInfo.InvariantCulture, $"{ticks / unitTicks}{unit}");
    }

    /// <summary>
    /// Like <see cref="Format"/> but total, for messages: sub-second values fall back to
    /// milliseconds rather than throwing.
    /// </summary>
    internal static string Describe(TimeSpan value) =>
        value >= TimeSpan.Zero && value.Ticks % TimeSpan.TicksPerSecond == 0
            ? Format(value)
            : string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds}ms");
}
