using Analytics.Events;

namespace Analytics.Tests.Events;

public sealed class DurationAndTimestampTests
{
    [Theory]
    [InlineData("30s", 30)]
    [InlineData("5m", 300)]
    [InlineData("1h", 3600)]
    [InlineData("24h", 86400)]
    [InlineData("7d", 604800)]
    [InlineData("90m", 5400)]
    [InlineData("366d", 31622400)]
    [InlineData("05m", 300)]
    public void Durations_parse(string text, long seconds)
    {
        Assert.True(DurationParser.TryParse(text, out TimeSpan value, out string error), error);
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
        Assert.Equal(string.Empty, error);
    }

    [Theory]
    [InlineData(null, "duration is empty")]
    [InlineData("", "duration is empty")]
    [InlineData("0s", "'0s' is zero; a duration must be positive")]
    [InlineData("-5m", "'-5m' is negative")]
    [InlineData("1.5h", "'1.5h' is not a whole number; use a smaller unit instead, such as 90m")]
    [InlineData("30", "'30' has no unit; add s, m, h or d, such as 30s")]
    [InlineData("250ms", "'250ms' has the unit 'ms', which is not supported")]
    [InlineData("5M", "has the unit 'M', which is not supported; use s, m, h or d (lower case)")]
    [InlineData("1w", "has the unit 'w'")]
    [InlineData("1h30m", "has the unit 'h30m'")]
    [InlineData(" 5m", "is not a duration")]
    [InlineData("m", "is not a duration")]
    [InlineData("+5m", "is not a duration")]
    [InlineData("367d", "'367d' is longer than the maximum of 366d")]
    [InlineData("9000h", "longer than the maximum of 366d")]
    [InlineData("99999999999999999999999s", "longer than the maximum of 366d")]
    public void Bad_durations_are_rejected(string? text, string expected)
    {
        Assert.False(DurationParser.TryParse(text, out TimeSpan value, out string error));
        Assert.Equal(TimeSpan.Zero, value);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Parse_throws_format_exception_with_the_message()
    {
        Assert.Equal(TimeSpan.FromMinutes(5), DurationParser.Parse("5m"));
        Assert.Contains("is zero", Assert.Throws<FormatException>(() => DurationParser.Parse("0m")).Message);
    }

    [Theory]
    [InlineData(300, "5m")]
    [InlineData(5400, "90m")]
    [InlineData(86400, "1d")]
    [InlineData(90000, "25h")]
    [InlineData(61, "61s")]
    [InlineData(604800, "7d")]
    [InlineData(0, "0s")]
    public void Durations_format_with_the_largest_exact_unit(long seconds, string expected)
    {
        Assert.Equal(expected, DurationParser.Format(TimeSpan.FromSeconds(seconds)));
    }

    [Fact]
    public void Format_refuses_what_no_duration_can_write()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DurationParser.Format(TimeSpan.FromMilliseconds(1500)));
        Assert.Throws<ArgumentOutOfRangeException>(() => DurationParser.Format(TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public void Duration_format_and_parse_round_trip()
    {
        for (long seconds = 1; seconds <= 31_622_400; seconds = seconds * 7 + 3)
        {
            TimeSpan value = TimeSpan.FromSeconds(seconds);
            Assert.Equal(value, DurationParser.Parse(DurationParser.Format(value)));
        }
    }

    [Theory]
    [InlineData("2026-11-21T10:00:00.250Z", 1_795_255_200_250)]
    [InlineData("2026-11-21T10:00:00Z", 1_795_255_200_000)]
    [InlineData("2026-11-21T10:00Z", 1_795_255_200_000)]
    [InlineData("2026-11-21T12:00:00+02:00", 1_795_255_200_000)]
    [InlineData("2026-11-21T12:00:00,5+02", 1_795_255_200_500)]
    [InlineData("2026-11-21 10:00:00.999999999z", 1_795_255_200_999)]
    [InlineData("1795255200250", 1_795_255_200_250)]
    [InlineData("0", 0)]
    [InlineData("1970-01-01T00:00:00Z", 0)]
    [InlineData("9999-12-31T23:59:59.999Z", 253_402_300_799_999)]
    [InlineData("2024-02-29T00:00:00Z", 1_709_164_800_000)]
    public void Timestamps_parse(string text, long expected)
    {
        Assert.True(TimestampParser.TryParse(text, out long ms, out string error), error);
        Assert.Equal(expected, ms);
    }

    [Theory]
    [InlineData(null, "timestamp is empty")]
    [InlineData("2026-11-21T10:00:00", "has no offset")]
    [InlineData("2026-11-21", "has no time of day or offset")]
    [InlineData("-5", "is negative")]
    [InlineData("253402300800000", "beyond year 9999")]
    [InlineData("99999999999999999999", "beyond year 9999")]
    [InlineData("1969-12-31T23:59:59Z", "outside the supported range")]
    [InlineData("9999-12-31T23:00:00-05:00", "outside the supported range")]
    [InlineData("2026-13-01T00:00:00Z", "not a valid date")]
    [InlineData("2025-02-29T00:00:00Z", "not a valid date")]
    [InlineData("2026-11-21T24:00:00Z", "not a valid date")]
    [InlineData("2026-11-21T10:00:60Z", "not a valid date")]
    [InlineData("2026-11-21T10:00:00+24:00", "offset out of range")]
    [InlineData("2026-11-21T10:00:00.Z", "is not an ISO-8601 timestamp")]
    [InlineData("2026-11-21T10:00:00.1234567890Z", "is not an ISO-8601 timestamp")]
    [InlineData("2026-11-21T10:00:00Z ", "is not an ISO-8601 timestamp")]
    [InlineData("now", "is not an ISO-8601 timestamp")]
    [InlineData("2026-11-21T10:00:00ü", "is not a timestamp")]
    public void Bad_timestamps_are_rejected(string? text, string expected)
    {
        Assert.False(TimestampParser.TryParse(text, out _, out string error));
        Assert.Contains(expected, error);
    }

    [Theory]
    [InlineData(1_795_255_200_250, "2026-11-21T10:00:00.250Z")]
    [InlineData(0, "1970-01-01T00:00:00.000Z")]
    [InlineData(253_402_300_799_999, "9999-12-31T23:59:59.999Z")]
    [InlineData(-1, "1969-12-31T23:59:59.999Z")]
    [InlineData(951_782_400_007, "2000-02-29T00:00:00.007Z")]
    public void Timestamps_format_as_iso_utc_with_milliseconds(long ms, string expected)
    {
        Assert.Equal(expected, TimestampParser.Format(ms));
        Assert.Equal(expected, new DateTimeOffset(DateTime.UnixEpoch.AddMilliseconds(ms)).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"));
    }

    [Fact]
    public void Timestamp_format_and_parse_round_trip()
    {
        var random = new Random(42);
        for (int i = 0; i < 2000; i++)
        {
            long ms = random.NextInt64(TimestampParser.MaxEpochMs + 1);
            Assert.True(TimestampParser.TryParse(TimestampParser.Format(ms), out long back, out string error), error);
            Assert.Equal(ms, back);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => TimestampParser.Format(TimestampParser.MaxEpochMs + 1));
    }
}
