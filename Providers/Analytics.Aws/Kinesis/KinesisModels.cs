using System.Globalization;
using System.Numerics;
using System.Text.Json.Serialization;

namespace Analytics.Aws.Kinesis;

// The shapes of Kinesis' JSON 1.1 answers, named as the API names them (PascalCase on the wire).
// Only the fields we use are declared; the rest of each answer is ignored. Answer properties have
// setters, not init: the source-generated deserializer sets every init property, so one missing
// from the JSON would become null instead of keeping its default.

/// <summary>Where a shard iterator starts.</summary>
public enum ShardIteratorType
{
    /// <summary>The oldest record still retained.</summary>
    TrimHorizon,

    /// <summary>Just after the newest record: only records written from now on.</summary>
    Latest,

    /// <summary>At the given sequence number, inclusive.</summary>
    AtSequenceNumber,

    /// <summary>Just after the given sequence number: how a reader resumes from its checkpoint.</summary>
    AfterSequenceNumber,
}

/// <summary>Which shards ListShards returns (see the API's ShardFilter).</summary>
public static class ShardFilterTypes
{
    public const string AfterShardId = "AFTER_SHARD_ID";
    public const string AtTrimHorizon = "AT_TRIM_HORIZON";
    public const string FromTrimHorizon = "FROM_TRIM_HORIZON";
    public const string AtLatest = "AT_LATEST";
}

public sealed record ShardFilter(string Type, string? ShardId = null);

public sealed record StreamDescriptionSummary
{
    public string StreamName { get; set; } = "";

    [JsonPropertyName("StreamARN")]
    public string StreamArn { get; set; } = "";

    /// <summary>CREATING, DELETING, ACTIVE or UPDATING.</summary>
    public string StreamStatus { get; set; } = "";

    public int OpenShardCount { get; set; }

    public int RetentionPeriodHours { get; set; }

    public DateTimeOffset? StreamCreationTimestamp { get; set; }

    public bool IsActive => StreamStatus == "ACTIVE";
}

/// <summary>A range of the 128-bit hash key space (MD5 of the partition key), as decimal strings.</summary>
public sealed record HashKeyRange(string StartingHashKey, string EndingHashKey)
{
    public BigInteger Start => BigInteger.Parse(StartingHashKey, CultureInfo.InvariantCulture);

    public BigInteger End => BigInteger.Parse(EndingHashKey, CultureInfo.InvariantCulture);

    /// <summary>The hash key that splits the range in two equal halves: SplitShard's NewStartingHashKey.</summary>
    public string Midpoint() => ((Start + End + 1) / 2).ToString(CultureInfo.InvariantCulture);

    public bool Contains(BigInteger hashKey) => hashKey >= Start && hashKey <= End;
}

public sealed record SequenceNumberRange(string StartingSequenceNumber, string? EndingSequenceNumber = null);

public sealed record Shard
{
    public string ShardId { get; set; } = "";

    /// <summary>The shard this one was split from, or the first of the two it was merged from.</summary>
    public string? ParentShardId { get; set; }

    /// <summary>The second parent of a merged shard.</summary>
    public string? AdjacentParentShardId { get; set; }

    public HashKeyRange HashKeyRange { get; set; } = new("0", "0");

    public SequenceNumberRange SequenceNumberRange { get; set; } = new("0");

    /// <summary>A closed shard (split or merged away) takes no more writes; reading it reaches an end.</summary>
    public bool IsClosed => SequenceNumberRange.EndingSequenceNumber is not null;

    public IEnumerable<string> Parents =>
        new[] { ParentShardId, AdjacentParentShardId }.Where(p => p is not null).Select(p => p!);
}

public sealed record ListShardsResult
{
    public IReadOnlyList<Shard> Shards { get; set; } = [];

    /// <summary>Present when there are more shards: pass it (without the stream name) for the next page.</summary>
    public string? NextToken { get; set; }
}

public sealed record KinesisRecord
{
    public string SequenceNumber { get; set; } = "";

    public string PartitionKey { get; set; } = "";

    /// <summary>The record's bytes (base64 on the wire).</summary>
    public ReadOnlyMemory<byte> Data { get; set; }

    public DateTimeOffset? ApproximateArrivalTimestamp { get; set; }
}

/// <summary>A shard that a closed shard's records continue in, reported when reading reaches the closed shard's end.</summary>
public sealed record ChildShard
{
    public string ShardId { get; set; } = "";

    public IReadOnlyList<string> ParentShards { get; set; } = [];

    public HashKeyRange? HashKeyRange { get; set; }
}

public sealed record GetRecordsResult
{
    public IReadOnlyList<KinesisRecord> Records { get; set; } = [];

    /// <summary>Where to read next; null once a closed shard has been read to its end.</summary>
    public string? NextShardIterator { get; set; }

    /// <summary>How far the read is behind the shard's newest record (0 at the tip).</summary>
    public long? MillisBehindLatest { get; set; }

    /// <summary>At the end of a closed shard: the shards that follow it.</summary>
    public IReadOnlyList<ChildShard>? ChildShards { get; set; }

    [JsonIgnore]
    public bool IsShardEnd => NextShardIterator is null;
}

/// <summary>One record to write. Kinesis picks the shard from the MD5 of the partition key, unless an explicit hash key is given.</summary>
public sealed record PutRecordsEntry(ReadOnlyMemory<byte> Data, string PartitionKey, string? ExplicitHashKey = null);

public sealed record PutRecordsResultEntry
{
    public string? SequenceNumber { get; set; }

    public string? ShardId { get; set; }

    /// <summary>ProvisionedThroughputExceededException or InternalFailure when this entry was not written.</summary>
    public string? ErrorCode { get; set; }

    public string? ErrorMessage { get; set; }

    [JsonIgnore]
    public bool IsSuccess => ErrorCode is null && SequenceNumber is not null;
}

/// <summary>PutRecords is not atomic: each entry succeeds or fails on its own, in the order sent.</summary>
public sealed record PutRecordsResult
{
    public int FailedRecordCount { get; set; }

    public IReadOnlyList<PutRecordsResultEntry> Records { get; set; } = [];
}

public sealed record UpdateShardCountResult
{
    public string StreamName { get; set; } = "";

    public int CurrentShardCount { get; set; }

    public int TargetShardCount { get; set; }
}

/// <summary>The API's limits that the client checks before sending (REFERENCE.md, AWS limits).</summary>
public static class KinesisLimits
{
    public const int MaxPutRecordsCount = 500;

    /// <summary>All of one PutRecords call: data and partition keys.</summary>
    public const int MaxPutRecordsBytes = 5 * 1024 * 1024;

    /// <summary>
    /// One record's data, by default. A stream can be set to take up to 10 MiB, so the client does
    /// not enforce it; producers that batch records should keep to it.
    /// </summary>
    public const int MaxRecordBytes = 1024 * 1024;

    public const int MaxPartitionKeyLength = 256;

    public const int MaxGetRecordsLimit = 10_000;
}
