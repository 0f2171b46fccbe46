using System.Text.Json;

namespace Analytics.Events;

/// <summary>
/// Reads events in the contract's JSON form: an HTTP body (JSON array or NDJSON) or a Kinesis
/// record (single object, array or NDJSON), validating every field.
/// </summary>
/// <remarks>
/// <para>This is the ingest hot path, so it runs <see cref="Utf8JsonReader"/> straight over the input:
/// no DOM, no deserialisation into dictionaries, and no allocation per event beyond the strings an
/// accepted event keeps. Within one call, repeated source and metric names share one string
/// instance; nothing is interned globally, so a flood of distinct names cannot grow memory.</para>
/// <para>Forward compatibility: fields the contract does not name are ignored, whatever their
/// value, so producers can add fields before every silo knows them. A JSON <c>null</c> in an
/// optional field (<c>timestamp</c>, <c>id</c>, <c>values</c>) counts as absent, because many
/// serialisers write absent properties as null; in a required field it is a type error.</para>
/// <para>Each rejected element gets one error (the first problem found). Field names are
/// case-sensitive, as in the contract.</para>
/// </remarks>
public static partial class EventParser
{
    private static readonly EventValidationOptions DefaultOptions = new();

    // Strict JSON: no comments, no trailing commas. Depth only matters for ignored fields.
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };

    private const string EmptyBatch = "the batch is empty; send at least one event";

    /// <summary>
    /// Parses a <c>POST /api/events</c> body. <paramref name="ndjson"/> selects NDJSON
    /// (<c>application/x-ndjson</c>); otherwise the body must be one JSON array of events.
    /// </summary>
    /// <param name="nowMs">Time of receipt, epoch ms: the timestamp of events without one, and the base of the future-skew check.</param>
    /// <returns>
    /// A result with <see cref="EventParseResult.FatalError"/> set when the body cannot be read
    /// at all (answer 400); otherwise accepted events and per-element errors (answer 202).
    /// </returns>
    public static EventParseResult ParseBody(
        ReadOnlySpan<byte> utf8, bool ndjson, long nowMs, EventValidationOptions? options = null)
    {
        options ??= DefaultOptions;
        options.Validate();
        utf8 = SkipBom(utf8);
        return ndjson ? ParseNdjson(utf8, nowMs, options) : ParseArray(utf8, nowMs, options, "body");
    }

    /// <summary>
    /// Parses one Kinesis record's data (already de-aggregated if it was KPL-aggregated): a single
    /// event object, a JSON array of events, or NDJSON.
    /// </summary>
    /// <remarks>
    /// The form is told by the first non-blank byte: <c>[</c> is an array; <c>{</c> is NDJSON when
    /// the first line holds a whole object and more non-blank lines follow, otherwise a single
    /// (possibly pretty-printed, multi-line) object. A malformed single object or array is fatal;
    /// in NDJSON a malformed line only rejects that line.
    /// </remarks>
    public static EventParseResult ParseRecord(ReadOnlySpan<byte> data, long nowMs, EventValidationOptions? options = null)
    {
        options ??= DefaultOptions;
        options.Validate();
        data = SkipBom(data);
        int first = data.IndexOfAnyExcept(" \t\r\n"u8);
        if (first < 0)
        {
            return EventParseResult.Fatal("the record is empty; it must hold one event, a JSON array of events or NDJSON");
        }

        return data[first] switch
        {
            (byte)'[' => ParseArray(data, nowMs, options, "record"),
            (byte)'{' when IsNdjson(data[first..]) => ParseNdjson(data, nowMs, options),
            (byte)'{' => ParseSingle(data, nowMs, options),
            _ => EventParseResult.Fatal(
                $"the record must be a JSON object, a JSON array of objects or NDJSON, but it starts with {Names.Quote(data.Slice(first, Math.Min(16, data.Length - first)))}"),
        };
    }

    private static EventParseResult ParseArray(ReadOnlySpan<byte> utf8, long nowMs, EventValidationOptions options, string what)
    {
        if (IsBlank(utf8))
        {
            return EventParseResult.Fatal(EmptyBatch);
        }

        var reader = new Utf8JsonReader(utf8, ReaderOptions);
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                string hint = reader.TokenType == JsonTokenType.StartObject
                    ? "; wrap a single event in [ ], or send NDJSON as application/x-ndjson"
                    : string.Empty;
                return EventParseResult.Fatal($"the {what} must be a JSON array of events, got {Batch.DescribeToken(ref reader)}{hint}");
            }

            var batch = new Batch(nowMs, options, utf8.Length);
            int index = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    string? error = batch.ReadEvent(ref reader, out Draft draft);
                    batch.Finish(index, error, in draft);
                }
                else
                {
                    batch.Reject(index, $"each event must be a JSON object, got {Batch.DescribeToken(ref reader)}");
                    reader.Skip();
                }

                index++;
            }

            // Reading past the closing bracket makes the reader throw on trailing content.
            if (reader.Read())
            {
                return EventParseResult.Fatal($"the {what} has content after the closing ] of the array");
            }

            return index == 0 ? EventParseResult.Fatal(EmptyBatch) : batch.ToResult();
        }
        catch (JsonException ex)
        {
            return EventParseResult.Fatal($"the {what} is not valid JSON: {DescribeJsonError(ex, utf8)}");
        }
    }

    private static EventParseResult ParseNdjson(ReadOnlySpan<byte> utf8, long nowMs, EventValidationOptions options)
    {
        var batch = new Batch(nowMs, options, utf8.Length);
        int index = 0;
        while (!utf8.IsEmpty)
        {
            int newline = utf8.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = newline < 0 ? utf8 : utf8[..newline];
            utf8 = newline < 0 ? default : utf8[(newline + 1)..];

            // Blank lines (a trailing newline, \r\n endings, spacing) are not events and take no index.
            if (!IsBlank(line))
            {
                ParseLine(batch, line, index++);
            }
        }

        return index == 0 ? EventParseResult.Fatal(EmptyBatch) : batch.ToResult();
    }

    private static void ParseLine(Batch batch, ReadOnlySpan<byte> line, int index)
    {
        var reader = new Utf8JsonReader(line, ReaderOptions);
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                string hint = reader.TokenType == JsonTokenType.StartArray
                    ? " (to send a JSON array, use Content-Type application/json)"
                    : string.Empty;
                batch.Reject(index, $"each NDJSON line must be one JSON object, got {Batch.DescribeToken(ref reader)}{hint}");
                return;
            }

            string? error = batch.ReadEvent(ref reader, out Draft draft);

            // Checked before committing, so a line with trailing garbage is not half accepted.
            if (reader.Read())
            {
                error ??= "the line has content after the event object";
            }

            batch.Finish(index, error, in draft);
        }
        catch (JsonException ex)
        {
            batch.Reject(index, $"the line is not valid JSON: {DescribeJsonError(ex, line, withLine: false)}");
        }
    }

    private static EventParseResult ParseSingle(ReadOnlySpan<byte> utf8, long nowMs, EventValidationOptions options)
    {
        var reader = new Utf8JsonReader(utf8, ReaderOptions);
        try
        {
            var batch = new Batch(nowMs, options, 0);
            reader.Read();
            string? error = batch.ReadEvent(ref reader, out Draft draft);
            if (reader.Read())
            {
                return EventParseResult.Fatal("the record has content after the event object");
            }

            batch.Finish(0, error, in draft);
            return batch.ToResult();
        }
        catch (JsonException ex)
        {
            return EventParseResult.Fatal($"the record is not valid JSON: {DescribeJsonError(ex, utf8)}");
        }
    }

    /// <summary>
    /// True when the data starting with <c>{</c> is NDJSON rather than one object. A
    /// pretty-printed object's first line is an unfinished object, while an NDJSON first line is a
    /// whole one (or a broken one, which should only cost that line).
    /// </summary>
    private static bool IsNdjson(ReadOnlySpan<byte> data)
    {
        int newline = data.IndexOf((byte)'\n');
        if (newline < 0 || IsBlank(data[(newline + 1)..]))
        {
            return false;
        }

        // Not the final block: running out of input is "unfinished" (Read returns false), while
        // broken JSON still throws.
        var reader = new Utf8JsonReader(data[..newline], isFinalBlock: false, new JsonReaderState(ReaderOptions));
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    return true;
                }
            }

            return false;
        }
        catch (JsonException)
        {
            return true;
        }
    }

    /// <param name="withLine">False for one NDJSON line, where the line number would always be 1.</param>
    private static string DescribeJsonError(JsonException ex, ReadOnlySpan<byte> input, bool withLine = true)
    {
        // The framework's message ends in 0-based "LineNumber: 0 | BytePositionInLine: 12." and,
        // for some errors, advice meant for the programmer; a client gets 1-based positions only.
        string message = ex.Message;
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        message = (cut >= 0 ? message[..cut] : message).Replace(" Change the reader options.", string.Empty, StringComparison.Ordinal);
        if (ex.LineNumber is not long lineNumber || ex.BytePositionInLine is not long column)
        {
            return message;
        }

        string where = withLine ? $"line {lineNumber + 1}, byte {column + 1}" : $"byte {column + 1}";

        // NaN and Infinity are what a careless serialiser writes for non-finite numbers; they are
        // not JSON, and saying so helps more than "'N' is an invalid start of a value".
        ReadOnlySpan<byte> rest = input;
        for (long i = 0; i < lineNumber && !rest.IsEmpty; i++)
        {
            int newline = rest.IndexOf((byte)'\n');
            rest = newline < 0 ? default : rest[(newline + 1)..];
        }

        if (column <= rest.Length)
        {
            ReadOnlySpan<byte> at = rest[(int)column..];
            ReadOnlySpan<byte> before = column > 0 ? rest[((int)column - 1)..] : at;
            if (at.StartsWith("NaN"u8) || at.StartsWith("Infinity"u8) || before.StartsWith("-Infinity"u8))
            {
                message = "NaN and Infinity are not JSON numbers, and values must be finite";
            }
        }

        return $"{message} ({where})";
    }

    private static ReadOnlySpan<byte> SkipBom(ReadOnlySpan<byte> utf8) =>
        utf8.StartsWith("\uFEFF"u8) ? utf8[3..] : utf8;

    private static bool IsBlank(ReadOnlySpan<byte> utf8) => utf8.IndexOfAnyExcept(" \t\r\n"u8) < 0;
}
