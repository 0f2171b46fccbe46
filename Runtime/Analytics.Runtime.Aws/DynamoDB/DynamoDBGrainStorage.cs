using Analytics.Aws.DynamoDB;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Runtime.Persistence;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Aws.DynamoDB;

/// <summary>
/// Grain storage on DynamoDB, for states of any size, without transactions.
/// <para>
/// All items of one state share a hash key (<c>{stateName}/{grainId}</c>). The range key <c>head</c>
/// holds the version (the ETag), and either the serialized bytes (small states) or the ordered
/// list of chunk items (range key <c>c#{writeId}#{sha256}</c>) that concatenate to them. Chunks are
/// immutable and never overwritten with other content; only the conditional head write makes a
/// version visible, so a reader sees the old version or the new one, never a mix.
/// </para>
/// <para>
/// The write id in a chunk's key is the <c>next</c> id the previous head chose: every writer that
/// starts from that head mints its chunks under it. After its commit, a writer lists exactly that
/// prefix and deletes what its new head does not use: chunks of a writer that crashed (or lost the
/// race) from the same head. No other writer can be using those keys any longer, since the head
/// they start from is gone. Unchanged chunks keep their keys across versions (write only what changed).
/// </para>
/// </summary>
public sealed partial class DynamoDBGrainStorage : IGrainStorage
{
    internal const string HashKey = "PK";
    internal const string RangeKey = "SK";
    internal const string HeadRangeKey = "head";
    internal const string ChunkPrefix = "c#";

    // Short attribute names: the head is rewritten on every write and DynamoDB bills names too.
    private const string VersionAttribute = "V";
    private const string NextWriteIdAttribute = "N";
    private const string DataAttribute = "D";
    private const string ChunksAttribute = "C";
    private const string LengthAttribute = "L";
    private const string HashAttribute = "H";

    /// <summary>Partition keys may be 2048 bytes; longer ids are shortened with a hash.</summary>
    private const int MaxHashKeyBytes = 1024;

    private readonly DynamoDBGrainStorageOptions _options;
    private readonly IAmazonDynamoDB _client;
    private readonly DynamoDBOptions _tableOptions;
    private readonly ContentDefinedChunker _chunker;
    private readonly ILogger _logger;
    private readonly DynamoDBTablePreparation _table;

    public DynamoDBGrainStorage(string name, DynamoDBGrainStorageOptions options, IAmazonDynamoDB client, DynamoDBOptions tableOptions, ILogger<DynamoDBGrainStorage> logger)
    {
        if (options.Validate() is { } error)
        {
            throw new ArgumentException($"DynamoDB grain storage '{name}': {error}", nameof(options));
        }

        Name = name;
        _options = options;
        _client = client;
        _tableOptions = tableOptions;
        _logger = logger;
        _chunker = new ContentDefinedChunker(options.MinChunkSize, options.AverageChunkSize, options.MaxChunkSize);
        TableName = tableOptions.TableName(DynamoDBGrainStorageOptions.TableSuffix);
        _table = new DynamoDBTablePreparation(client, tableOptions, TableSpec(tableOptions));
    }

    public string Name { get; }

    public string TableName { get; }

    /// <summary>Item reads and writes so far; the basis of "DynamoDB writes per event".</summary>
    public DynamoDBGrainStorageStatistics Statistics { get; } = new();

    public static DynamoDBTableSpec TableSpec(DynamoDBOptions options) =>
        new(options.TableName(DynamoDBGrainStorageOptions.TableSuffix), HashKey, RangeKey);

    /// <summary>Creates the table if it is missing (or checks it exists), once; every call waits for the same attempt.</summary>
    public Task InitializeAsync(CancellationToken cancellationToken) => _table.EnsureAsync(cancellationToken);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        var key = HashKeyOf(stateName, grainId);
        for (var attempt = 1; ; attempt++)
        {
            var head = await GetHeadAsync(key, projection: null, cancellationToken).ConfigureAwait(false);
            if (head is null)
            {
                grainState.ETag = null;
                grainState.RecordExists = false;
                return;
            }

            var payload = head.Data ?? await ReadChunksAsync(key, head, cancellationToken).ConfigureAwait(false);
            if (payload is null)
            {
                // A chunk is missing. Normal if a writer committed a newer version and deleted the
                // chunks it replaced while we read; corruption if the head we read is still current.
                var current = await GetHeadAsync(key, [VersionAttribute, NextWriteIdAttribute], cancellationToken).ConfigureAwait(false);
                if ((current is null || current.Version != head.Version || current.NextWriteId != head.NextWriteId) && attempt < 5)
                {
                    continue;
                }

                throw Corrupt(stateName, grainId, head, "one of its chunk items is missing");
            }

            if (payload.Length != head.Length || !string.Equals(Sha256(payload), head.Hash, StringComparison.Ordinal))
            {
                throw Corrupt(stateName, grainId, head, $"its {payload.Length} bytes do not match the head's length {head.Length} and hash");
            }

            grainState.State = GrainStateSerializer.Deserialize<T>(payload)!;
            grainState.ETag = head.Version.ToString(CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
            Statistics.AddRead(head.Chunks.Count);
            return;
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        var key = HashKeyOf(stateName, grainId);
        var expected = ParseETag(stateName, grainId, grainState.ETag);
        var payload = GrainStateSerializer.Serialize(grainState.State);
        var version = (expected ?? 0) + 1;
        var head = new Dictionary<string, AttributeValue>
        {
            [HashKey] = new() { S = key },
            [RangeKey] = new() { S = HeadRangeKey },
            [VersionAttribute] = new() { N = version.ToString(CultureInfo.InvariantCulture) },
            [NextWriteIdAttribute] = new() { S = NewWriteId() },
            [LengthAttribute] = new() { N = payload.Length.ToString(CultureInfo.InvariantCulture) },
            [HashAttribute] = new() { S = Sha256(payload) },
        };

        Head? old;
        List<string> chunkKeys = [];
        if (payload.Length <= _options.InlineThreshold)
        {
            // One conditional put does it; the replaced head comes back with it, for the clean-up.
            head[DataAttribute] = new() { B = new MemoryStream(payload) };
            old = await CommitHeadAsync(stateName, grainId, grainState.ETag, head, expected, expectedWriteId: null, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Which chunks exist already is what the current head says; we keep no memory per grain.
            old = await GetHeadAsync(key, [VersionAttribute, NextWriteIdAttribute, ChunksAttribute], cancellationToken).ConfigureAwait(false);
            if (old?.Version != expected)
            {
                throw InconsistentStateException.ForState(grainId.ToString(), stateName, grainState.ETag, old?.Version.ToString(CultureInfo.InvariantCulture));
            }

            // Without a head there is no shared write id: a random one keeps first writers apart.
            chunkKeys = await WriteChunksAsync(key, payload, old, old?.NextWriteId ?? NewWriteId(), cancellationToken).ConfigureAwait(false);
            head[ChunksAttribute] = new() { L = chunkKeys.Select(k => new AttributeValue { S = k }).ToList() };

            // The write id too, not just the version: after a clear the versions start again at 1,
            // and the chunks we skipped must be those of the very head we read.
            await CommitHeadAsync(stateName, grainId, grainState.ETag, head, expected, old?.NextWriteId, cancellationToken).ConfigureAwait(false);
        }

        grainState.ETag = version.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
        LogWritten(stateName, grainId, version, payload.Length, chunkKeys.Count);
        await CleanUpAsync(key, old, chunkKeys, cancellationToken).ConfigureAwait(false);
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        var key = HashKeyOf(stateName, grainId);
        var expected = ParseETag(stateName, grainId, grainState.ETag);
        var request = new DeleteItemRequest
        {
            TableName = TableName,
            Key = HeadKey(key),
            ExpressionAttributeNames = new() { ["#k"] = HashKey },
            ReturnValues = ReturnValue.ALL_OLD,
        };
        if (expected is null)
        {
            // Clearing what was never written succeeds, unless someone has written it meanwhile.
            request.ConditionExpression = "attribute_not_exists(#k)";
        }
        else
        {
            request.ConditionExpression = "attribute_exists(#k) AND #v = :v";
            request.ExpressionAttributeNames["#v"] = VersionAttribute;
            request.ExpressionAttributeValues = new() { [":v"] = new() { N = expected.Value.ToString(CultureInfo.InvariantCulture) } };
        }

        Head? old;
        try
        {
            var response = await DynamoDBRetry.RunAsync(ct => _client.DeleteItemAsync(request, ct), cancellationToken).ConfigureAwait(false);
            old = response.Attributes is { Count: > 0 } attributes ? Head.From(attributes) : null;
        }
        catch (ConditionalCheckFailedException)
        {
            throw await StaleAsync(stateName, grainId, grainState.ETag, key, cancellationToken).ConfigureAwait(false);
        }

        if (old is not null)
        {
            Statistics.AddHeadDelete();
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
        await CleanUpAsync(key, old, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The single commit point: the head is replaced only if it is still the version (and head) the writer started from.</summary>
    private async Task<Head?> CommitHeadAsync(
        string stateName, GrainId grainId, string? etag, Dictionary<string, AttributeValue> head, long? expected, string? expectedWriteId, CancellationToken cancellationToken)
    {
        var request = new PutItemRequest
        {
            TableName = TableName,
            Item = head,
            ReturnValues = ReturnValue.ALL_OLD,
        };
        if (expected is null)
        {
            request.ConditionExpression = "attribute_not_exists(#k)";
            request.ExpressionAttributeNames = new() { ["#k"] = HashKey };
        }
        else
        {
            request.ConditionExpression = "#v = :v";
            request.ExpressionAttributeNames = new() { ["#v"] = VersionAttribute };
            request.ExpressionAttributeValues = new() { [":v"] = new() { N = expected.Value.ToString(CultureInfo.InvariantCulture) } };
            if (expectedWriteId is not null)
            {
                request.ConditionExpression += " AND #n = :n";
                request.ExpressionAttributeNames["#n"] = NextWriteIdAttribute;
                request.ExpressionAttributeValues[":n"] = new() { S = expectedWriteId };
            }
        }

        try
        {
            var response = await DynamoDBRetry.RunAsync(ct => _client.PutItemAsync(request, ct), cancellationToken).ConfigureAwait(false);
            Statistics.AddHeadWrite();
            return response.Attributes is { Count: > 0 } attributes ? Head.From(attributes) : null;
        }
        catch (ConditionalCheckFailedException)
        {
            throw await StaleAsync(stateName, grainId, etag, head[HashKey].S, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<Head?> GetHeadAsync(string key, string[]? projection, CancellationToken cancellationToken)
    {
        var request = new GetItemRequest { TableName = TableName, Key = HeadKey(key), ConsistentRead = true };
        if (projection is not null)
        {
            request.ProjectionExpression = string.Join(", ", projection.Select((_, i) => $"#p{i}"));
            request.ExpressionAttributeNames = projection.Select((name, i) => (name, i)).ToDictionary(p => $"#p{p.i}", p => p.name);
        }

        var response = await DynamoDBRetry.RunAsync(ct => _client.GetItemAsync(request, ct), cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? Head.From(item) : null;
    }

    private async Task<InconsistentStateException> StaleAsync(string stateName, GrainId grainId, string? etag, string key, CancellationToken cancellationToken)
    {
        var current = await GetHeadAsync(key, [VersionAttribute], cancellationToken).ConfigureAwait(false);
        return InconsistentStateException.ForState(grainId.ToString(), stateName, etag, current?.Version.ToString(CultureInfo.InvariantCulture));
    }

    private static long? ParseETag(string stateName, GrainId grainId, string? etag) =>
        etag is null ? null
        : long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out var version) && version > 0 ? version
        : throw InconsistentStateException.ForState(grainId.ToString(), stateName, etag, "(not a version of this provider)");

    internal static string HashKeyOf(string stateName, GrainId grainId)
    {
        var key = $"{stateName}/{grainId}";
        return Encoding.UTF8.GetByteCount(key) <= MaxHashKeyBytes
            ? key
            : $"{stateName[..Math.Min(stateName.Length, 200)]}/{grainId.Type[..Math.Min(grainId.Type.Length, 200)]}/~{Sha256(Encoding.UTF8.GetBytes(key))}";
    }

    private static string ContentHashOf(string chunkKey) => chunkKey[(chunkKey.LastIndexOf('#') + 1)..];

    private static Dictionary<string, AttributeValue> HeadKey(string key) => ItemKey(key, HeadRangeKey);

    private static Dictionary<string, AttributeValue> ItemKey(string key, string rangeKey) =>
        new() { [HashKey] = new() { S = key }, [RangeKey] = new() { S = rangeKey } };

    private static string NewWriteId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private InvalidDataException Corrupt(string stateName, GrainId grainId, Head head, string what) =>
        new($"State '{stateName}' of grain {grainId} in DynamoDB table '{TableName}' is corrupt: version {head.Version} cannot be read because {what}.");

    /// <summary>The head item, as far as it was read.</summary>
    private sealed record Head(long Version, string? NextWriteId, byte[]? Data, List<string> Chunks, long Length, string? Hash)
    {
        public static Head From(Dictionary<string, AttributeValue> item) => new(
            long.Parse(item[VersionAttribute].N, CultureInfo.InvariantCulture),
            item.GetValueOrDefault(NextWriteIdAttribute)?.S,
            item.GetValueOrDefault(DataAttribute)?.B?.ToArray(),
            item.GetValueOrDefault(ChunksAttribute)?.L?.Select(v => v.S).ToList() ?? [],
            item.TryGetValue(LengthAttribute, out var length) ? long.Parse(length.N, CultureInfo.InvariantCulture) : 0,
            item.GetValueOrDefault(HashAttribute)?.S);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Wrote state '{StateName}' of {GrainId}: version {Version}, {Length} bytes in {Chunks} chunks")]
    private partial void LogWritten(string stateName, GrainId grainId, long version, int length, int chunks);
}
