using System.Text.Json;
using System.Text.Json.Serialization;
using Analytics.Grains.Sketches;

namespace Analytics.Grains.Streaming;

/// <summary>
/// A <see cref="MetricPartial"/> as JSON, for deliveries to a metric grain on another silo:
/// <c>{"metric", "bucketMs", "count", "latest": {source: time}, "buckets": [{"start", "count",
/// "sum", "min", "max", "sketch": base64 of its binary form, "sources": {source: [count, sum, max]}}]}</c>.
/// The sketch keeps its own compact, versioned format rather than a JSON of its buckets.
/// </summary>
public sealed class MetricPartialJsonConverter : JsonConverter<MetricPartial>
{
    public override void Write(Utf8JsonWriter writer, MetricPartial value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("metric", value.Metric);
        writer.WriteNumber("bucketMs", value.BucketSizeMs);
        writer.WriteNumber("count", value.Count);
        writer.WriteStartObject("latest");
        foreach (var (source, time) in value.LatestBySource)
        {
            writer.WriteNumber(source, time);
        }

        writer.WriteEndObject();
        writer.WriteStartArray("buckets");
        foreach (var (start, bucket) in value.Buckets)
        {
            writer.WriteStartObject();
            writer.WriteNumber("start", start);
            writer.WriteNumber("count", bucket.Count);
            writer.WriteNumber("sum", bucket.Sum);
            writer.WriteNumber("min", bucket.Min);
            writer.WriteNumber("max", bucket.Max);
            using (var sketch = new MemoryStream())
            {
                using (var binary = new BinaryWriter(sketch, System.Text.Encoding.UTF8, leaveOpen: true))
                {
                    bucket.Sketch.WriteTo(binary);
                }

                writer.WriteBase64String("sketch", sketch.GetBuffer().AsSpan(0, (int)sketch.Length));
            }

            writer.WriteStartObject("sources");
            foreach (var (source, aggregate) in bucket.Sources)
            {
                writer.WriteStartArray(source);
                writer.WriteNumberValue(aggregate.Count);
                writer.WriteNumberValue(aggregate.Sum);
                writer.WriteNumberValue(aggregate.Max);
                writer.WriteEndArray();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public override MetricPartial Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // Parsed as a document: partials are small, and this keeps the reader free of ordering assumptions.
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        try
        {
            var metric = root.GetProperty("metric").GetString() ?? throw new JsonException("A metric partial has no metric name.");
            var partial = new MetricPartial(metric, root.GetProperty("bucketMs").GetInt64())
            {
                Count = root.GetProperty("count").GetInt64(),
            };
            foreach (var latest in root.GetProperty("latest").EnumerateObject())
            {
                partial.LatestBySource[latest.Name] = latest.Value.GetInt64();
            }

            foreach (var element in root.GetProperty("buckets").EnumerateArray())
            {
                using var binary = new BinaryReader(new MemoryStream(element.GetProperty("sketch").GetBytesFromBase64()));
                var bucket = new PartialBucket(DDSketch.ReadFrom(binary))
                {
                    Count = element.GetProperty("count").GetInt64(),
                    Sum = element.GetProperty("sum").GetDouble(),
                    Min = element.GetProperty("min").GetDouble(),
                    Max = element.GetProperty("max").GetDouble(),
                };
                foreach (var source in element.GetProperty("sources").EnumerateObject())
                {
                    var values = source.Value;
                    bucket.Sources[source.Name] = new SourceAggregate(values[0].GetInt64(), values[1].GetDouble(), values[2].GetDouble());
                }

                partial.Buckets[element.GetProperty("start").GetInt64()] = bucket;
            }

            return partial;
        }
        catch (Exception exception) when (exception is KeyNotFoundException or InvalidOperationException or FormatException or InvalidDataException or IndexOutOfRangeException)
        {
            throw new JsonException($"A metric partial could not be read: {exception.Message}", exception);
        }
    }
}
