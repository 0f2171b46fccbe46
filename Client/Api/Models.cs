using System.Text.Json;
using System.Text.Json.Serialization;

namespace Analytics.Client;

// The answers of the HTTP API (see the contract), read with camelCase names. Collections are never
// null: an answer that leaves one out reads as empty. Numbers the contract allows to be null
// (an empty window's min, a percentile of nothing) are nullable.

/// <summary>The answer to <c>POST /api/events</c>.</summary>
/// <param name="Accepted">Readings accepted (an event with <c>values</c> counts once per entry).</param>
/// <param name="Rejected">Input elements rejected.</param>
/// <param name="Errors">The first rejected elements (the server lists at most 100).</param>
public sealed record IngestResult(int Accepted, int Rejected, IReadOnlyList<IngestError> Errors)
{
    public IReadOnlyList<IngestError> Errors { get; init; } = Errors ?? [];

    public static IngestResult Empty { get; } = new(0, 0, []);
}

/// <summary>Why one element of a batch was rejected.</summary>
/// <param name="Index">0-based position in the batch: array index, or NDJSON line counting only non-blank lines.</param>
public sealed record IngestError(int Index, string Error);

/// <summary>One entry of <c>GET /api/metrics</c>.</summary>
public sealed record MetricInfo(string Metric);

/// <summary><c>GET /api/metrics/{metric}/stats</c>.</summary>
public sealed record MetricStats(
    string Metric,
    string? Window,
    DateTimeOffset? From,
    DateTimeOffset? To,
    long Count,
    double Sum,
    double? Min,
    double? Max,
    double? Mean,
    double? P50,
    double? P90,
    double? P95,
    double? P99,
    long DistinctSources,
    long Late);

/// <summary>One step of a series; an empty step has <see cref="Count"/> 0.</summary>
public sealed record SeriesPoint(
    DateTimeOffset T,
    long Count,
    double? Sum,
    double? Min,
    double? Max,
    double? Mean,
    double? P50,
    double? P99);

/// <summary><c>GET /api/metrics/{metric}/series</c>.</summary>
public sealed record MetricSeries(string Metric, string? Step, IReadOnlyList<SeriesPoint> Points)
{
    public IReadOnlyList<SeriesPoint> Points { get; init; } = Points ?? [];
}

/// <summary>One source of <c>GET /api/metrics/{metric}/top</c>.</summary>
public sealed record TopItem(string Source, long Count, double? Max, double? Mean);

/// <summary><c>GET /api/metrics/{metric}/top</c>.</summary>
public sealed record TopResult(string Metric, string? Window, string? By, IReadOnlyList<TopItem> Items)
{
    public IReadOnlyList<TopItem> Items { get; init; } = Items ?? [];
}

/// <summary>One metric of a source summary.</summary>
public sealed record SourceMetricSummary(
    double? Last,
    DateTimeOffset? LastTimestamp,
    long Count,
    double? Min,
    double? Max,
    double? Mean);

/// <summary><c>GET /api/sources/{source}</c>.</summary>
public sealed record SourceSummary(
    string Source,
    DateTimeOffset? FirstSeen,
    DateTimeOffset? LastSeen,
    IReadOnlyDictionary<string, SourceMetricSummary> Metrics)
{
    public IReadOnlyDictionary<string, SourceMetricSummary> Metrics { get; init; } =
        Metrics ?? new Dictionary<string, SourceMetricSummary>();
}

/// <summary><c>GET /api/sources/{source}/series</c>: points shaped as in the metric series.</summary>
public sealed record SourceSeries(string? Source, string? Metric, string? Step, IReadOnlyList<SeriesPoint> Points)
{
    public IReadOnlyList<SeriesPoint> Points { get; init; } = Points ?? [];
}

/// <summary>One record of the dead-letter store.</summary>
/// <param name="Queue">The queue (shard) the record came from.</param>
/// <param name="Sequence">Its sequence number or checkpoint, as text.</param>
/// <param name="Reason">Why it could not be processed.</param>
/// <param name="Time">When it was dead-lettered.</param>
/// <param name="Data">The record's data as text.</param>
public sealed record DeadLetter(
    [property: JsonConverter(typeof(LenientStringConverter))] string? Queue,
    [property: JsonConverter(typeof(LenientStringConverter))] string? Sequence,
    string? Reason,
    DateTimeOffset? Time,
    [property: JsonConverter(typeof(LenientStringConverter))] string? Data);

/// <summary><c>GET /api/dead-letters?limit=N</c> (an extension of the contract): newest first.</summary>
public sealed record DeadLetterPage(IReadOnlyList<DeadLetter> Items, long Total)
{
    public IReadOnlyList<DeadLetter> Items { get; init; } = Items ?? [];
}

/// <summary>The contract's error answer, <c>{"error": "..."}</c>.</summary>
internal sealed record ErrorBody(string? Error);

/// <summary>Which of the two ingest body forms a raw body is in.</summary>
public enum IngestFormat
{
    /// <summary>Told by the first non-blank byte: <c>[</c> is a JSON array, anything else NDJSON.</summary>
    Detect,

    /// <summary>One JSON array of events (<c>application/json</c>).</summary>
    JsonArray,

    /// <summary>One event per line (<c>application/x-ndjson</c>).</summary>
    Ndjson,
}

/// <summary>The order of <c>GET /api/metrics/{metric}/top</c>.</summary>
public enum TopOrder
{
    Count,
    Max,
    Mean,
}

/// <summary>
/// Reads a string, a number or any other JSON value as text, for fields whose JSON type a silo
/// version may choose differently (a sequence number as a number or a string).
/// </summary>
internal sealed class LenientStringConverter : JsonConverter<string>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                return reader.GetString();
            default:
                using (JsonDocument document = JsonDocument.ParseValue(ref reader))
                {
                    return document.RootElement.GetRawText();
                }
        }
    }

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}

[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    NumberHandling = JsonNumberHandling.AllowReadingFromString | JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(IngestResult))]
[JsonSerializable(typeof(MetricInfo[]))]
[JsonSerializable(typeof(MetricStats))]
[JsonSerializable(typeof(MetricSeries))]
[JsonSerializable(typeof(TopResult))]
[JsonSerializable(typeof(SourceSummary))]
[JsonSerializable(typeof(SourceSeries))]
[JsonSerializable(typeof(DeadLetterPage))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class ClientJsonContext : JsonSerializerContext;
