using Analytics.Events;
using static Analytics.Tests.Events.EventTestKit;

namespace Analytics.Tests.Events;

/// <summary>Per-field validation: each rule with an accepted and a rejected case.</summary>
public sealed class EventParserFieldTests
{
    private const string MV = "\"metric\":\"temperature\",\"value\":1";

    // ---- source

    [Fact]
    public void Source_is_required_and_must_be_a_string()
    {
        Assert.Equal("source is required", Reject("{" + MV + "}"));
        Assert.Equal("source must be a string, got the number '42'", Reject("{\"source\":42," + MV + "}"));
        Assert.Equal("source must be a string, got null", Reject("{\"source\":null," + MV + "}"));
        Assert.Equal("source must not be empty", Reject("{\"source\":\"\"," + MV + "}"));
    }

    [Fact]
    public void Source_limit_is_256_utf8_bytes_counting_multibyte_characters()
    {
        string ok = new string('é', 128);                // 256 bytes
        string tooLong = ok + "a";                        // 257 bytes, 129 characters
        string emojiTooLong = string.Concat(Enumerable.Repeat("😀", 64)) + "a"; // 257 bytes

        Assert.Equal(ok, AcceptOne($"{{\"source\":\"{ok}\",{MV}}}").Source);
        Assert.Equal("source is 257 UTF-8 bytes long; the limit is 256 bytes", Reject($"{{\"source\":\"{tooLong}\",{MV}}}"));
        Assert.Equal("source is 257 UTF-8 bytes long; the limit is 256 bytes", Reject($"{{\"source\":\"{emojiTooLong}\",{MV}}}"));
        Assert.Equal(new string('x', 256), AcceptOne($"{{\"source\":\"{new string('x', 256)}\",{MV}}}").Source);
    }

    [Theory]
    [InlineData("dev\\u0007x", "U+0007 at byte 3")]
    [InlineData("\\ttab", "U+0009 at byte 0")]
    [InlineData("del\u007F", "U+007F at byte 3")]
    [InlineData("c1\u0085", "U+0085 at byte 2")]
    [InlineData("nul\\u0000", "U+0000 at byte 3")]
    public void Source_with_control_characters_is_rejected(string source, string where)
    {
        string error = Reject($"{{\"source\":\"{source}\",{MV}}}");

        Assert.StartsWith("source contains the control character", error);
        Assert.Contains(where, error);
    }

    [Fact]
    public void Source_with_escapes_and_unicode_is_accepted_unescaped()
    {
        Assert.Equal("dev/42 \"x\" ü ✓", AcceptOne($"{{\"source\":\"dev\\/42 \\\"x\\\" \\u00fc ✓\",{MV}}}").Source);
        Assert.StartsWith("source contains an invalid \\u escape", Reject($"{{\"source\":\"\\ud800\",{MV}}}"));
    }

    [Fact]
    public void Source_and_id_with_invalid_utf8_are_rejected()
    {
        byte[] badSource = [.. "[{\"source\":\"a"u8, 0xFF, .. "\",\"metric\":\"m\",\"value\":1}]"u8];
        byte[] badId = [.. "[{\"source\":\"a\",\"metric\":\"m\",\"value\":1,\"id\":\"x"u8, 0xC3, .. "\"}]"u8];

        Assert.Equal("source is not valid UTF-8", Assert.Single(EventParser.ParseBody(badSource, false, Now, Options).Errors).Error);
        Assert.Equal("id is not valid UTF-8", Assert.Single(EventParser.ParseBody(badId, false, Now, Options).Errors).Error);
    }

    // ---- metric

    [Theory]
    [InlineData("temperature")]
    [InlineData("a")]
    [InlineData("cpu.load_1m:avg/host-A9")]
    public void Metric_with_allowed_characters_is_accepted(string metric)
    {
        Assert.Equal(metric, AcceptOne(Ev($"\"metric\":\"{metric}\",\"value\":1")).Metric);
    }

    [Theory]
    [InlineData("temp erature", "contains U+0020 at position 4")]
    [InlineData("température", "contains 'é' (U+00E9) at position 4")]
    [InlineData("cpu,load", "contains ',' (U+002C) at position 3")]
    [InlineData("a#b", "contains '#' (U+0023)")]
    public void Metric_with_other_characters_is_rejected(string metric, string expected)
    {
        string error = Reject(Ev($"\"metric\":\"{metric}\",\"value\":1"));

        Assert.StartsWith("metric '", error);
        Assert.Contains(expected, error);
        Assert.EndsWith("use only A-Z, a-z, 0-9 and _ . : / -", error);
    }

    [Fact]
    public void Metric_limit_is_128_characters()
    {
        Assert.Single(Accept(Ev($"\"metric\":\"{new string('m', 128)}\",\"value\":1")));
        Assert.Equal("metric is 129 characters long; the limit is 128", Reject(Ev($"\"metric\":\"{new string('m', 129)}\",\"value\":1")));
        Assert.Equal("metric must not be empty", Reject(Ev("\"metric\":\"\",\"value\":1")));
        Assert.Equal("metric must be a string, got true", Reject(Ev("\"metric\":true,\"value\":1")));
    }

    [Fact]
    public void Metric_and_value_require_each_other()
    {
        Assert.Equal("value is required with metric", Reject(Ev("\"metric\":\"m\"")));
        Assert.Equal("metric is required with value", Reject(Ev("\"value\":1")));
        Assert.StartsWith("metric and value are required", Reject("{\"source\":\"s\"}"));
    }

    // ---- value

    [Theory]
    [InlineData("0", 0.0)]
    [InlineData("-17.25", -17.25)]
    [InlineData("1e300", 1e300)]
    [InlineData("-1e300", -1e300)]
    [InlineData("1.7976931348623157e308", double.MaxValue)]
    [InlineData("5e-324", double.Epsilon)]
    public void Finite_values_are_accepted(string json, double expected)
    {
        Assert.Equal(expected, AcceptOne(Ev($"\"metric\":\"m\",\"value\":{json}")).Value);
    }

    [Theory]
    [InlineData("1e400", "value '1e400' is out of range")]
    [InlineData("-1e400", "value '-1e400' is out of range")]
    [InlineData("\"12\"", "value must be a finite JSON number, got the string '12'; send the number without quotes")]
    [InlineData("\"NaN\"", "value must be a finite JSON number, got the string 'NaN'")]
    [InlineData("true", "value must be a finite JSON number, got true")]
    [InlineData("null", "value must be a finite JSON number, got null")]
    [InlineData("[1]", "value must be a finite JSON number, got an array")]
    public void Non_finite_or_non_number_values_are_rejected(string json, string expected)
    {
        string error = Reject(Ev($"\"metric\":\"m\",\"value\":{json}"));

        Assert.StartsWith(expected, error);
        if (json == "\"NaN\"")
        {
            Assert.DoesNotContain("quotes", error);
        }
    }

    // ---- values

    [Fact]
    public void Values_expand_to_one_event_each_with_id_suffix()
    {
        IReadOnlyList<AnalyticsEvent> events = Accept(
            "{\"source\":\"dev-42\",\"values\":{\"temperature\":21.5,\"humidity\":40},\"timestamp\":\"2026-11-21T09:59:00Z\",\"id\":\"dev-42-7\"}");

        long t = Now - 60_000;
        Assert.Equal(
            [new AnalyticsEvent("dev-42", "temperature", 21.5, t, "dev-42-7#temperature"),
             new AnalyticsEvent("dev-42", "humidity", 40, t, "dev-42-7#humidity")],
            events);
    }

    [Fact]
    public void Values_without_id_give_events_without_id()
    {
        Assert.All(Accept(Ev("\"values\":{\"a\":1,\"b\":2}")), e => Assert.Null(e.Id));
    }

    [Fact]
    public void Values_take_1_to_64_entries()
    {
        string Entries(int n) => string.Join(',', Enumerable.Range(0, n).Select(i => $"\"m{i}\":{i}"));

        Assert.Equal(64, Accept(Ev($"\"values\":{{{Entries(64)}}}")).Count);
        Assert.Single(Accept(Ev($"\"values\":{{{Entries(1)}}}")));
        Assert.Equal("values must have at least one entry", Reject(Ev("\"values\":{}")));
        Assert.Equal("values has 65 entries; the limit is 64 (split it into several events)", Reject(Ev($"\"values\":{{{Entries(65)}}}")));
    }

    [Fact]
    public void Values_entries_are_validated_like_metric_and_value()
    {
        Assert.StartsWith("values key 'bad name' contains U+0020", Reject(Ev("\"values\":{\"ok\":1,\"bad name\":2}")));
        Assert.StartsWith("values.hum must be a finite JSON number, got the string '40'; send the number without quotes",
            Reject(Ev("\"values\":{\"hum\":\"40\"}")));
        Assert.StartsWith("values.hum '1e999' is out of range", Reject(Ev("\"values\":{\"hum\":1e999}")));
        Assert.Equal("values has the metric 'a' more than once", Reject(Ev("\"values\":{\"a\":1,\"a\":2}")));
        Assert.StartsWith("values must be an object of metric names to numbers", Reject(Ev("\"values\":[1,2]")));
        Assert.StartsWith("values.x must be a finite JSON number, got an object", Reject(Ev("\"values\":{\"x\":{\"y\":1}},\"z\":1")));
    }

    [Fact]
    public void Values_cannot_be_combined_with_metric_or_value()
    {
        Assert.Equal("metric and values cannot both be given; send either metric with value, or values",
            Reject(Ev("\"metric\":\"m\",\"value\":1,\"values\":{\"a\":1}")));
        Assert.Equal("metric and values cannot both be given; send either metric with value, or values",
            Reject(Ev("\"values\":{\"a\":1},\"metric\":\"m\"")));
        Assert.Equal("value cannot be combined with values; put each reading inside values",
            Reject(Ev("\"values\":{\"a\":1},\"value\":3")));
    }

    [Fact]
    public void Values_null_counts_as_absent()
    {
        Assert.Single(Accept(Ev("\"metric\":\"m\",\"value\":1,\"values\":null")));
    }

    // ---- timestamp

    [Theory]
    [InlineData("\"2026-11-21T10:00:00.250Z\"", 250)]
    [InlineData("\"2026-11-21T11:00:00.250+01:00\"", 250)]
    [InlineData("\"2026-11-21T05:00:00-05:00\"", 0)]
    [InlineData("\"2026-11-21t10:30:00.2509999+0030\"", 250)]
    [InlineData("1795255200250", 250)]
    [InlineData("1.79525520025e12", 250)]
    [InlineData("null", 0)]
    public void Timestamps_in_iso_or_epoch_ms_are_accepted(string json, long offsetFromNow)
    {
        Assert.Equal(Now + offsetFromNow, AcceptOne(Ev($"{MV},\"timestamp\":{json}")).Timestamp);
    }

    [Fact]
    public void Absent_timestamp_is_time_of_receipt()
    {
        Assert.Equal(Now, AcceptOne(Ev(MV)).Timestamp);
    }

    [Theory]
    [InlineData("\"2026-11-21T10:00:00\"", "timestamp '2026-11-21T10:00:00' has no offset, so its instant is unknown; add Z for UTC or an offset such as +01:00")]
    [InlineData("\"2026-11-21T10:00:00.250\"", "has no offset")]
    [InlineData("\"2026-11-21\"", "has no time of day or offset")]
    [InlineData("\"yesterday\"", "timestamp 'yesterday' is not an ISO-8601 timestamp")]
    [InlineData("\"2026-02-30T10:00:00Z\"", "is not a valid date and time of day")]
    [InlineData("\"1795255200000\"", "is a string of digits; send epoch milliseconds as a JSON number")]
    [InlineData("-1", "timestamp '-1' is negative")]
    [InlineData("253402300800000", "is beyond year 9999")]
    [InlineData("1e400", "is beyond year 9999")]
    [InlineData("1795255200000.5", "is not a whole number of epoch milliseconds")]
    [InlineData("true", "timestamp must be an ISO-8601 string with an offset or Z, or a number of epoch milliseconds, got true")]
    [InlineData("{}", "timestamp must be an ISO-8601 string")]
    public void Bad_timestamps_are_rejected(string json, string expected)
    {
        Assert.Contains(expected, Reject(Ev($"{MV},\"timestamp\":{json}")));
    }

    [Fact]
    public void Timestamps_up_to_the_skew_are_accepted_and_beyond_rejected()
    {
        long limit = Now + 5 * 60_000;

        Assert.Equal(limit, AcceptOne(Ev($"{MV},\"timestamp\":{limit}")).Timestamp);
        Assert.Equal(limit - 1, AcceptOne(Ev($"{MV},\"timestamp\":{limit - 1}")).Timestamp);
        Assert.Equal(
            "timestamp 2026-11-21T10:05:00.001Z is more than 5m in the future (time of receipt 2026-11-21T10:00:00.000Z); check the sender's clock",
            Reject(Ev($"{MV},\"timestamp\":{limit + 1}")));
        Assert.Contains("more than 5m in the future", Reject(Ev($"{MV},\"timestamp\":\"2027-01-01T00:00:00Z\"")));
    }

    [Fact]
    public void Future_skew_is_configurable()
    {
        var options = new EventValidationOptions { MaxFutureSkew = TimeSpan.FromHours(1) };
        long inHalfAnHour = Now + 30 * 60_000;

        Assert.Equal(inHalfAnHour, AcceptOne(Ev($"{MV},\"timestamp\":{inHalfAnHour}"), options: options).Timestamp);
        Assert.Contains("more than 1h in the future", Reject(Ev($"{MV},\"timestamp\":{Now + 3_600_001}"), options: options));
    }

    [Fact]
    public void Past_timestamps_are_accepted()
    {
        Assert.Equal(0, AcceptOne(Ev($"{MV},\"timestamp\":0")).Timestamp);
    }

    // ---- id

    [Fact]
    public void Id_up_to_128_characters_is_accepted()
    {
        Assert.Equal("dev-42-000173", AcceptOne(Ev($"{MV},\"id\":\"dev-42-000173\"")).Id);
        string emoji128 = string.Concat(Enumerable.Repeat("😀", 128));
        Assert.Equal(emoji128, AcceptOne(Ev($"{MV},\"id\":\"{emoji128}\"")).Id);
        Assert.Null(AcceptOne(Ev($"{MV},\"id\":null")).Id);
    }

    [Fact]
    public void Id_longer_than_128_empty_or_not_string_is_rejected()
    {
        Assert.Equal("id is 129 characters long; the limit is 128", Reject(Ev($"{MV},\"id\":\"{new string('i', 129)}\"")));
        Assert.StartsWith("id must not be empty", Reject(Ev($"{MV},\"id\":\"\"")));
        Assert.Equal("id must be a string, got the number '17'", Reject(Ev($"{MV},\"id\":17")));
    }

    // ---- object shape

    [Fact]
    public void Unknown_fields_are_ignored()
    {
        AnalyticsEvent e = AcceptOne(Ev($"{MV},\"unit\":\"C\",\"tags\":{{\"a\":[1,2]}},\"Source\":5,\"v2\":null"));

        Assert.Equal("dev-42", e.Source);
    }

    [Fact]
    public void Field_names_are_case_sensitive()
    {
        Assert.Equal("source is required", Reject("{\"Source\":\"a\"," + MV + "}"));
    }

    [Fact]
    public void Escaped_field_names_are_recognised()
    {
        Assert.Equal("dev-1", AcceptOne("{\"sour\\u0063e\":\"dev-1\"," + MV + "}").Source);
    }

    [Fact]
    public void Duplicate_fields_are_rejected()
    {
        Assert.Equal("source appears more than once", Reject("{\"source\":\"a\",\"source\":\"b\"," + MV + "}"));
        Assert.Equal("value appears more than once", Reject(Ev("\"metric\":\"m\",\"value\":1,\"value\":2")));
    }

    [Fact]
    public void Only_the_first_error_is_reported()
    {
        Assert.Equal("source must be a string, got the number '1'", Reject("{\"source\":1,\"metric\":\"bad name\",\"value\":\"x\"}"));
    }
}
