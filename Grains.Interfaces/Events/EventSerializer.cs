using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Analytics.Events;

/// <summary>
/// Writes events in the contract's JSON form, compact, for the durable log and for producers:
/// <c>{"source":"dev-42","metric":"temperature","value":21.5,"timestamp":"2026-11-21T10:00:00.250Z","id":"dev-42-000173"}</c>.
/// </summary>
/// <remarks>
/// The timestamp is always written (ISO-8601 UTC with milliseconds), so reading an event back
/// never depends on the reader's clock; <c>id</c> is left out when absent. The value is written as
/// the shortest text that reads back to the same double, so <c>parse(serialize(e)) == e</c>.
/// Read stored events back with <see cref="EventValidationOptions.ForStoredEvents"/>.
/// </remarks>
public static class EventSerializer
{
    // The output goes to a log and to Kinesis, never into HTML, so the relaxed encoder is safe and
    // keeps non-ASCII names readable and compact instead of \u-escaping them.
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    /// <summary>Writes one event object with <paramref name="writer"/> (whatever its options).</summary>
    /// <exception cref="ArgumentException">The source or metric is null, or the value is not finite.</exception>
    public static void Write(Utf8JsonWriter writer, in AnalyticsEvent e)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (e.Source is null || e.Metric is null)
        {
            throw new ArgumentException("An event needs a source and a metric to be written.", nameof(e));
        }

        if (!double.IsFinite(e.Value))
        {
            throw new ArgumentException($"The value {e.Value} is not finite and has no JSON form.", nameof(e));
        }

        Span<byte> timestamp = stackalloc byte[TimestampParser.FormattedLength];
        TimestampParser.FormatUtf8(e.Timestamp, timestamp);

        writer.WriteStartObject();
        writer.WriteString("source"u8, e.Source);
        writer.WriteString("metric"u8, e.Metric);
        writer.WriteNumber("value"u8, e.Value);
        writer.WriteString("timestamp"u8, timestamp);
        if (e.Id is not null)
        {
            writer.WriteString("id"u8, e.Id);
        }

        writer.WriteEndObject();
    }

    /// <summary>Writes one event as compact JSON (no trailing newline) to <paramref name="output"/>.</summary>
    public static void Write(IBufferWriter<byte> output, in AnalyticsEvent e)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        Write(writer, e);
    }

    /// <summary>Writes the events as NDJSON: one compact object per line, each line ending in <c>\n</c>.</summary>
    public static void WriteNdjson(IBufferWriter<byte> output, ReadOnlySpan<AnalyticsEvent> events)
    {
        ArgumentNullException.ThrowIfNull(output);
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        foreach (ref readonly AnalyticsEvent e in events)
        {
            WriteLine(writer, output, e);
        }
    }

    /// <inheritdoc cref="WriteNdjson(IBufferWriter{byte}, ReadOnlySpan{AnalyticsEvent})"/>
    public static void WriteNdjson(IBufferWriter<byte> output, IEnumerable<AnalyticsEvent> events)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(events);
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        foreach (AnalyticsEvent e in events)
        {
            WriteLine(writer, output, e);
        }
    }

    /// <summary>Writes the events as one JSON array, the <c>application/json</c> form of <c>POST /api/events</c>.</summary>
    public static void WriteArray(IBufferWriter<byte> output, ReadOnlySpan<AnalyticsEvent> events)
    {
        ArgumentNullException.ThrowIfNull(output);
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartArray();
        foreach (ref readonly AnalyticsEvent e in events)
        {
            Write(writer, e);
        }

        writer.WriteEndArray();
    }

    /// <summary>One event as compact UTF-8 JSON.</summary>
    public static byte[] SerializeToUtf8Bytes(in AnalyticsEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        Write(buffer, e);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>One event as a compact JSON string.</summary>
    public static string Serialize(in AnalyticsEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        Write(buffer, e);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteLine(Utf8JsonWriter writer, IBufferWriter<byte> output, in AnalyticsEvent e)
    {
        Write(writer, e);
        writer.Flush();

        // The writer refuses a second top-level value, and a newline is not a JSON token, so the
        // newline goes straight to the output and the writer starts afresh for the next line.
        output.GetSpan(1)[0] = (byte)'\n';
        output.Advance(1);
        writer.Reset(output);
    }
}
