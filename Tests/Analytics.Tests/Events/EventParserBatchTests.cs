using System.Text;
using Analytics.Events;
using static Analytics.Tests.Events.EventTestKit;

namespace Analytics.Tests.Events;

/// <summary>How bodies and records are framed: arrays, NDJSON, fatal errors, indexes, error caps.</summary>
public sealed class EventParserBatchTests
{
    private const string Good = "{\"source\":\"dev-42\",\"metric\":\"temperature\",\"value\":21.5}";
    private const string Bad = "{\"source\":\"dev-42\",\"metric\":\"temperature\"}";

    [Fact]
    public void Array_body_with_valid_events_is_accepted_in_order()
    {
        EventParseResult result = Body($"[{Good},{Good.Replace("21.5", "22")}]");

        Assert.Null(result.FatalError);
        Assert.False(result.IsFatal);
        Assert.Equal(0, result.Rejected);
        Assert.Empty(result.Errors);
        Assert.Equal(2, result.AcceptedElements);
        Assert.Equal([21.5, 22.0], result.Accepted.Select(e => e.Value));
        Assert.All(result.Accepted, e => Assert.Equal(("dev-42", "temperature", Now, (string?)null), (e.Source, e.Metric, e.Timestamp, e.Id)));
    }

    [Theory]
    [InlineData("[{\"source\":\"a\",", "not valid JSON")]
    [InlineData("[1,2", "not valid JSON")]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[" + Good + "] trailing", "not valid JSON")]
    [InlineData("[" + Good + ",]", "not valid JSON")]
    [InlineData("[{\"source\":\"a\",\"metric\":\"m\",\"value\":NaN}]", "NaN and Infinity are not JSON numbers")]
    [InlineData("[{\"source\":\"a\",\"metric\":\"m\",\"value\":-Infinity}]", "NaN and Infinity are not JSON numbers")]
    public void Malformed_array_body_is_fatal(string body, string expected)
    {
        EventParseResult result = Body(body);

        Assert.True(result.IsFatal);
        Assert.Contains(expected, result.FatalError);
        Assert.Empty(result.Accepted);
    }

    [Theory]
    [InlineData(Good, "must be a JSON array of events, got an object; wrap a single event in [ ]")]
    [InlineData("42", "must be a JSON array of events, got the number '42'")]
    [InlineData("\"x\"", "must be a JSON array of events, got the string 'x'")]
    [InlineData("null", "must be a JSON array of events, got null")]
    public void Top_level_other_than_array_is_fatal(string body, string expected)
    {
        Assert.Contains(expected, Body(body).FatalError);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData(" [ \n ] ")]
    [InlineData("")]
    [InlineData("  \r\n ")]
    public void Empty_array_body_is_fatal(string body)
    {
        Assert.Equal("the batch is empty; send at least one event", Body(body).FatalError);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n  \r\n")]
    public void Empty_ndjson_body_is_fatal(string body)
    {
        Assert.Equal("the batch is empty; send at least one event", Body(body, ndjson: true).FatalError);
    }

    [Fact]
    public void Utf8_byte_order_mark_is_skipped()
    {
        byte[] body = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes($"[{Good}]")];

        Assert.Single(EventParser.ParseBody(body, false, Now, Options).Accepted);
    }

    [Fact]
    public void Array_elements_that_are_not_objects_are_rejected_by_index()
    {
        EventParseResult result = Body($"[{Good}, 5, [1,{{\"a\":2}}], null, {Good}]");

        Assert.Null(result.FatalError);
        Assert.Equal(2, result.AcceptedElements);
        Assert.Equal(3, result.Rejected);
        Assert.Equal([1, 2, 3], result.Errors.Select(e => e.Index));
        Assert.Equal("each event must be a JSON object, got the number '5'", result.Errors[0].Error);
        Assert.Equal("each event must be a JSON object, got an array", result.Errors[1].Error);
    }

    [Fact]
    public void Ndjson_index_counts_only_non_blank_lines()
    {
        string body = $"\n{Good}\r\n\n   \n{Bad}\n{Good}\n\t\n{Bad}\n";

        EventParseResult result = Body(body, ndjson: true);

        Assert.Null(result.FatalError);
        Assert.Equal(2, result.Accepted.Count);
        Assert.Equal(2, result.Rejected);
        Assert.Equal([1, 3], result.Errors.Select(e => e.Index));
        Assert.All(result.Errors, e => Assert.Equal("value is required with metric", e.Error));
    }

    [Fact]
    public void Ndjson_malformed_line_and_nan_only_reject_their_own_line()
    {
        string body = string.Join('\n',
            Good,
            "{\"source\":\"a\",\"metric\":\"m\",\"value\":NaN}",
            "{\"source\":\"a\",",
            "[" + Good + "]",
            Good + " {}",
            Good);

        EventParseResult result = Body(body, ndjson: true);

        Assert.Null(result.FatalError);
        Assert.Equal(2, result.Accepted.Count);
        Assert.Equal(4, result.Rejected);
        Assert.Equal([1, 2, 3, 4], result.Errors.Select(e => e.Index));
        Assert.StartsWith("the line is not valid JSON: NaN and Infinity are not JSON numbers", result.Errors[0].Error);
        Assert.StartsWith("the line is not valid JSON", result.Errors[1].Error);
        Assert.StartsWith("each NDJSON line must be one JSON object, got an array", result.Errors[2].Error);
        Assert.StartsWith("the line is not valid JSON", result.Errors[3].Error);
    }

    [Fact]
    public void Ndjson_without_trailing_newline_reads_last_line()
    {
        Assert.Equal(2, Body($"{Good}\n{Good}", ndjson: true).Accepted.Count);
    }

    [Fact]
    public void Error_list_is_capped_at_100_but_rejected_counts_all()
    {
        string body = "[" + string.Join(',', Enumerable.Repeat(Bad, 250).Append(Good)) + "]";

        EventParseResult result = Body(body);

        Assert.Equal(250, result.Rejected);
        Assert.Equal(100, result.Errors.Count);
        Assert.Equal(Enumerable.Range(0, 100), result.Errors.Select(e => e.Index));
        Assert.Single(result.Accepted);
    }

    [Fact]
    public void Error_cap_follows_the_options()
    {
        var options = new EventValidationOptions { MaxErrorsListed = 3 };
        string body = string.Join('\n', Enumerable.Repeat(Bad, 10));

        EventParseResult result = Body(body, ndjson: true, options: options);

        Assert.Equal(10, result.Rejected);
        Assert.Equal(3, result.Errors.Count);
    }

    [Fact]
    public void Invalid_event_does_not_stop_the_batch_even_with_nested_unknown_fields()
    {
        string invalid = "{\"metric\":{\"deep\":[1,{\"x\":[]}]},\"extra\":[1,2,{\"y\":null}],\"source\":\"s\"}";
        EventParseResult result = Body($"[{invalid},{Good}]");

        Assert.Equal(1, result.Rejected);
        Assert.Equal("metric must be a string, got an object", result.Errors[0].Error);
        Assert.Single(result.Accepted);
    }

    [Fact]
    public void Record_single_object_is_a_batch_of_one()
    {
        EventParseResult result = Record("  " + Good + "\n");

        Assert.Null(result.FatalError);
        Assert.Equal(21.5, Assert.Single(result.Accepted).Value);
    }

    [Fact]
    public void Record_pretty_printed_object_is_one_event_not_ndjson()
    {
        string pretty = "{\n  \"source\": \"dev-42\",\n  \"metric\": \"temperature\",\n  \"value\": 21.5\n}\n";

        EventParseResult result = Record(pretty);

        Assert.Null(result.FatalError);
        Assert.Single(result.Accepted);
    }

    [Fact]
    public void Record_array_and_ndjson_are_both_read()
    {
        Assert.Equal(2, Record($"[{Good},{Good}]").Accepted.Count);

        EventParseResult nd = Record($"{Good}\n{Bad}\n\n{Good}\n");
        Assert.Equal(2, nd.Accepted.Count);
        Assert.Equal(1, Assert.Single(nd.Errors).Index);
    }

    [Fact]
    public void Record_ndjson_with_broken_first_line_keeps_the_rest()
    {
        EventParseResult result = Record($"{{\"source\":\"a\",\"value\":NaN}}\n{Good}");

        Assert.Null(result.FatalError);
        Assert.Single(result.Accepted);
        Assert.Equal(0, Assert.Single(result.Errors).Index);
    }

    [Fact]
    public void Record_single_invalid_event_is_rejected_not_fatal()
    {
        EventParseResult result = Record(Bad);

        Assert.Null(result.FatalError);
        Assert.Equal(1, result.Rejected);
        Assert.Equal("value is required with metric", Assert.Single(result.Errors).Error);
    }

    [Theory]
    [InlineData("", "the record is empty")]
    [InlineData("  \n", "the record is empty")]
    [InlineData("42", "must be a JSON object, a JSON array of objects or NDJSON, but it starts with '42'")]
    [InlineData("{\"source\":", "the record is not valid JSON")]
    [InlineData("{\"source\":\"a\",\"metric\":\"m\",\"value\":1} x", "the record is not valid JSON")]
    [InlineData("[]", "the batch is empty")]
    [InlineData("[1,", "the record is not valid JSON")]
    public void Record_that_cannot_be_read_is_fatal(string data, string expected)
    {
        Assert.Contains(expected, Record(data).FatalError);
    }

    [Fact]
    public void Invalid_options_are_refused()
    {
        var options = new EventValidationOptions { MaxFutureSkew = TimeSpan.FromMinutes(-1) };

        Assert.Throws<ArgumentOutOfRangeException>(() => Body($"[{Good}]", options: options));
    }

    [Fact]
    public void Parsing_allocates_little_per_event()
    {
        // 2,000 events sharing source and metric names: the names come from the per-call cache,
        // so what is left per event is the result list (40 bytes a slot, sized from the body).
        // Allocating each name per event would add about 80 bytes and fail this.
        string body = "[" + string.Join(',', Enumerable.Range(0, 2000).Select(i =>
            $"{{\"source\":\"dev-{i % 10}\",\"metric\":\"temperature\",\"value\":{i}.5,\"timestamp\":{Now - i}}}")) + "]";
        byte[] utf8 = Encoding.UTF8.GetBytes(body);

        long perEvent = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++) // the least of three, to shed one-off runtime work
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            EventParseResult result = EventParser.ParseBody(utf8, false, Now, Options);
            perEvent = Math.Min(perEvent, (GC.GetAllocatedBytesForCurrentThread() - before) / 2000);
            Assert.Equal(2000, result.Accepted.Count);
        }

        Assert.True(perEvent < 100, $"{perEvent} bytes per event");
    }
}
