using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Analytics.Aws.Kinesis;

// The request bodies and answer envelopes of the calls the client makes, and their source-generated
// serializer. Names are the API's own (PascalCase); absent optional fields are left out.

internal sealed record CreateStreamRequest(string StreamName, int ShardCount);

internal sealed record StreamNameRequest(string StreamName);

internal sealed record DescribeStreamSummaryResponse(StreamDescriptionSummary StreamDescriptionSummary);

internal sealed record ListShardsRequest(string? StreamName, string? NextToken, int? MaxResults, ShardFilter? ShardFilter);

internal sealed record GetShardIteratorRequest(string StreamName, string ShardId, string ShardIteratorType, string? StartingSequenceNumber);

internal sealed record GetShardIteratorResponse(string ShardIterator);

internal sealed record GetRecordsRequest(string ShardIterator, int? Limit);

internal sealed record PutRecordsRequest(string StreamName, IReadOnlyList<PutRecordsEntry> Records);

internal sealed record SplitShardRequest(string StreamName, string ShardToSplit, string NewStartingHashKey);

internal sealed record MergeShardsRequest(string StreamName, string ShardToMerge, string AdjacentShardToMerge);

internal sealed record UpdateShardCountRequest(string StreamName, int TargetShardCount, string ScalingType);

internal sealed record DeleteStreamRequest(string StreamName, bool EnforceConsumerDeletion);

internal sealed record EmptyResponse;

/// <summary>The JSON protocols send timestamps as epoch seconds, with a fraction.</summary>
internal sealed class EpochSecondsConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.Number => DateTimeOffset.UnixEpoch.AddTicks((long)(reader.GetDouble() * TimeSpan.TicksPerSecond)),
            // Tolerated for emulators that write ISO-8601 instead.
            JsonTokenType.String => DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
            _ => throw new JsonException($"Expected a timestamp, found {reader.TokenType}."),
        };

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteNumberValue((value - DateTimeOffset.UnixEpoch).Ticks / (decimal)TimeSpan.TicksPerSecond);
}

[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(EpochSecondsConverter)])]
[JsonSerializable(typeof(CreateStreamRequest))]
[JsonSerializable(typeof(StreamNameRequest))]
[JsonSerializable(typeof(DescribeStreamSummaryResponse))]
[JsonSerializable(typeof(ListShardsRequest))]
[JsonSerializable(typeof(ListShardsResult))]
[JsonSerializable(typeof(GetShardIteratorRequest))]
[JsonSerializable(typeof(GetShardIteratorResponse))]
[JsonSerializable(typeof(GetRecordsRequest))]
[JsonSerializable(typeof(GetRecordsResult))]
[JsonSerializable(typeof(PutRecordsRequest))]
[JsonSerializable(typeof(PutRecordsResult))]
[JsonSerializable(typeof(SplitShardRequest))]
[JsonSerializable(typeof(MergeShardsRequest))]
[JsonSerializable(typeof(UpdateShardCountRequest))]
[JsonSerializable(typeof(UpdateShardCountResult))]
[JsonSerializable(typeof(DeleteStreamRequest))]
[JsonSerializable(typeof(EmptyResponse))]
internal sealed partial class KinesisJsonContext : JsonSerializerContext;
