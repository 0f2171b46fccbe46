using System.Security.Cryptography;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace Analytics.Persistence.DynamoDB;

/// <summary>
/// Orleans grain storage on DynamoDB, for states of any size, without transactions.
/// <para>
/// All items of one state share a hash key (<c>{stateName}/{grainId}</c>). The range key <c>head</c>
/// holds the ETag (a random id minted by each write) and either the serialized bytes (small states)
/// or the ordered list of chunk items that concatenate to them. Chunks are never overwritten with
/// other content, and only the conditional head write makes a version visible, so a reader sees the
/// old version or the new one, never a mix.
/// </para>
/// <para>
/// A chunk's range key is <c>c#{base}.{writer}#{hash}</c>: <c>base</c> is the ETag of the head the
/// writer started from and <c>writer</c> the ETag the writer mints for its own head. Of all writers
/// from one head only one can commit, so after its commit the winner lists the <c>c#{base}.</c>
/// prefix and deletes what its head does not use: chunks of writers that crashed from the same
/// head. A writer that loses the race deletes its own chunks, which no head can reference. Unchanged
/// chunks keep their keys from version to version, so a small edit of a large state writes little.
/// </para>
/// <para>
/// ETags are random rather than counters so that an ETag from before a clear can never match a
/// state written after it.
/// </para>
/// </summary>
public sealed partial class DynamoDBGrainStorage : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    internal const string HashKey = "PK";
    internal const string RangeKey = "SK";
    internal const string HeadRangeKey = "head";
    internal const string ChunkPrefix = "c#";

    // Short attribute names: the head is rewritten on every write and DynamoDB bills names too.
    internal const string ETagAttribute = "E";
    internal const string DataAttribute = "D";
    internal const string ChunksAttribute = "C";
    private const string LengthAttribute = "L";
    private const string HashAttribute = "H";

    /// <summary>
    /// The runtime's storage (Analytics.Runtime.Aws) wrote heads with a version V and a random write
    /// id N instead of E. Its heads are read with N as their ETag, so that a table it wrote is taken
    /// over without losing state; the first write replaces such a head with one of ours.
    /// </summary>
    private const string LegacyWriteIdAttribute = "N";

    /// <summary>The ETag compare of every conditional write: ours, or a runtime-written head's.</summary>
    private const string ETagCondition = "(#e = :e OR #n = :e)";

    /// <summary>The base of chunks written when there was no head: never listed, since it is shared across a state's lifetimes.</summary>
    private const string NoHeadBase = "0";

    /// <summary>Partition keys may be 2048 bytes; longer ids are shortened with a hash.</summary>
    private const int MaxHashKeyBytes = 1024;

    private readonly DynamoDBGrainStorageOptions _options;
    private readonly IAmazonDynamoDB _client;
    private readonly IGrainStorageSerializer _serializer;
    private readonly IActivatorProvider _activators;
    private readonly ContentDefinedChunker _chunker;
    private readonly DynamoDBTablePreparation _table;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public DynamoDBGrainStorage(
        string name,
        DynamoDBGrainStorageOptions options,
        IAmazonDynamoDB client,
        DynamoDBOptions tableOptions,
        IActivatorProvider activators,
        ILogger<DynamoDBGrainStorage> logger,
        TimeProvider? timeProvider = null)
    {
        if ((options.Validate() ?? tableOptions.Validate()) is { } error)
        {
            throw new ArgumentException($"DynamoDB grain storage '{name}': {error}", nameof(options));
        }

        Name = name;
        _options = options;
        _client = client;
        _serializer = options.GrainStorageSerializer;
        _activators = activators;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        _chunker = new ContentDefinedChunker(options.MinChunkSize, options.AverageChunkSize, options.MaxChunkSize);
        TableName = tableOptions.TableName(options.TableSuffix);
        _table = new DynamoDBTablePreparation(client, tableOptions, TableSpecFor(tableOptions, options));
    }

    /// <summary>The table's name and key schema, for whoever creates it outside the silo (the CDK stack in deploy/).</summary>
    public static DynamoDBTableSpec TableSpecFor(DynamoDBOptions tableOptions, DynamoDBGrainStorageOptions? options = null) =>
        new(tableOptions.TableName((options ?? new DynamoDBGrainStorageOptions()).TableSuffix), HashKey, RangeKey);

    public string Name { get; }

    public string TableName { get; }

    /// <summary>Item reads and writes so far; the basis of "DynamoDB writes per event".</summary>
    public DynamoDBGrainStorageStatistics Statistics { get; } = new();

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(OptionFormattingUtilities.Name<DynamoDBGrainStorage>(Name), _options.InitStage, InitializeAsync);

    /// <summary>Creates the table if it is missing (or checks it exists, when DynamoDB:CreateTables is false), once; every call waits for the same attempt.</summary>
    public Task InitializeAsync(CancellationToken cancellationToken) => _table.EnsureAsync(cancellationToken);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ReadStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        WriteStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ClearStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        var key = HashKeyOf(stateName, grainId);
        for (var attempt = 1; ; attempt++)
        {
            var head = await GetHeadAsync(key, projection: null, cancellationToken).ConfigureAwait(false);
            if (head is null)
            {
                Reset(grainState);
                return;
            }

            var payload = head.Data ?? await ReadChunksAsync(key, head, cancellationToken).ConfigureAwait(false);
            if (payload is null)
            {
                // A chunk is missing. Normal if a writer committed a newer version and deleted the
                // chunks it replaced while we read; corruption if the head we read is still current.
                var current = await GetHeadAsync(key, [ETagAttribute, LegacyWriteIdAttribute], cancellationToken).ConfigureAwait(false);
                if (current?.ETag != head.ETag && attempt < 5)
                {
                    continue;
                }

                throw Corrupt(stateName, grainId, head, "one of its chunk items is missing");
            }

            if (payload.Length != head.Length || !string.Equals(Sha256(payload), head.Hash, StringComparison.Ordinal))
            {
                throw Corrupt(stateName, grainId, head, $"its {payload.Length} bytes do not match the head's length {head.Length} and hash");
            }

            grainState.State = _serializer.Deserialize<T>(new BinaryData(payload)) ?? CreateInstance<T>();
            grainState.ETag = head.ETag;
            grainState.RecordExists = true;
            Statistics.AddRead(head.Chunks.Count);
            return;
        }
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        var key = HashKeyOf(stateName, grainId);
        var expected = grainState.ETag;
        var payload = _serializer.Serialize(grainState.State).ToArray();
        var etag = NewETag();
        var head = new Dictionary<string, AttributeValue>
        {
            [HashKey] = new() { S = key },
            [RangeKey] = new() { S = HeadRangeKey },
            [ETagAttribute] = new() { S = etag },
            [LengthAttribute] = new() { N = payload.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            [HashAttribute] = new() { S = Sha256(payload) },
        };

        Head? old;
        List<string> chunkKeys = [];
        if (payload.Length <= (expected is null ? Math.Max(_options.InlineThreshold, _options.FirstWriteInlineThreshold) : _options.InlineThreshold))
        {
            // One conditional put does it; the replaced head comes back with it, for the clean-up.
            head[DataAttribute] = new() { B = new MemoryStream(payload) };
            old = await CommitHeadAsync(stateName, grainId, expected, head, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Which chunks exist already is what the current head says; we keep no memory per grain.
            old = await GetHeadAsync(key, [ETagAttribute, LegacyWriteIdAttribute, ChunksAttribute], cancellationToken).ConfigureAwait(false);
            if (old?.ETag != expected)
            {
                throw Conflict(stateName, grainId, old?.ETag, expected);
            }

            var (keys, minted) = await WriteChunksAsync(key, payload, old, $"{old?.ETag ?? NoHeadBase}.{etag}", cancellationToken).ConfigureAwait(false);
            chunkKeys = keys;
            head[ChunksAttribute] = new() { L = chunkKeys.Select(k => new AttributeValue { S = k }).ToList() };
            try
            {
                await CommitHeadAsync(stateName, grainId, expected, head, cancellationToken).ConfigureAwait(false);
            }
            catch (InconsistentStateException)
            {
                // We lost: our chunk keys carry our own ETag, which no head will ever have.
                await DeleteChunksAsync(key, minted, "lost a write race").ConfigureAwait(false);
                throw;
            }
        }

        grainState.ETag = etag;
        grainState.RecordExists = true;
        LogWritten(stateName, grainId, etag, payload.Length, chunkKeys.Count);
        await CleanUpAsync(key, old, chunkKeys, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the state. Clearing a state that is not there succeeds whatever the ETag: nothing is
    /// lost, and a retried clear whose first attempt went through must not fail. Clearing one that
    /// is there needs its ETag.
    /// </summary>
    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        var key = HashKeyOf(stateName, grainId);
        var expected = grainState.ETag;
        var request = new DeleteItemRequest
        {
            TableName = TableName,
            Key = HeadKey(key),
            ExpressionAttributeNames = new() { ["#k"] = HashKey },
            ReturnValues = ReturnValue.ALL_OLD,
        };
        if (expected is null)
        {
            request.ConditionExpression = "attribute_not_exists(#k)";
        }
        else
        {
            request.ConditionExpression = ETagCondition;
            request.ExpressionAttributeNames = ETagConditionNames();
            request.ExpressionAttributeValues = new() { [":e"] = new() { S = expected } };
        }

        Head? old = null;
        try
        {
            var response = await DynamoDBRetry.RunAsync(ct => _client.DeleteItemAsync(request, ct), cancellationToken, _time).ConfigureAwait(false);
            old = response.Attributes is { Count: > 0 } attributes ? Head.From(attributes) : null;
        }
        catch (ConditionalCheckFailedException)
        {
            var current = await GetHeadAsync(key, [ETagAttribute, LegacyWriteIdAttribute], cancellationToken).ConfigureAwait(false);
            if (current is not null)
            {
                throw Conflict(stateName, grainId, current.ETag, expected);
            }
        }

        if (old is not null)
        {
            Statistics.AddHeadDelete();
        }

        Reset(grainState);
        await CleanUpAsync(key, old, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The single commit point: the head is replaced only if it still has the ETag the writer
    /// started from. Returns the replaced head when it is known.
    /// </summary>
    private async Task<Head?> CommitHeadAsync(
        string stateName, GrainId grainId, string? expected, Dictionary<string, AttributeValue> head, CancellationToken cancellationToken)
    {
        var request = new PutItemRequest { TableName = TableName, Item = head, ReturnValues = ReturnValue.ALL_OLD };
        if (expected is null)
        {
            request.ConditionExpression = "attribute_not_exists(#k)";
            request.ExpressionAttributeNames = new() { ["#k"] = HashKey };
        }
        else
        {
            request.ConditionExpression = ETagCondition;
            request.ExpressionAttributeNames = ETagConditionNames();
            request.ExpressionAttributeValues = new() { [":e"] = new() { S = expected } };
        }

        try
        {
            var response = await DynamoDBRetry.RunAsync(ct => _client.PutItemAsync(request, ct), cancellationToken, _time).ConfigureAwait(false);
            Statistics.AddHeadWrite();
            return response.Attributes is { Count: > 0 } attributes ? Head.From(attributes) : null;
        }
        catch (ConditionalCheckFailedException)
        {
            // A retried put (ours or the SDK's) whose first attempt went through fails its own
            // condition: the head then has the ETag we minted, and the write did succeed.
            var current = await GetHeadAsync(head[HashKey].S, [ETagAttribute, LegacyWriteIdAttribute], cancellationToken).ConfigureAwait(false);
            if (current?.ETag == head[ETagAttribute].S)
            {
                Statistics.AddHeadWrite();
                LogCommitFoundOnRetry(stateName, grainId);
                return null;
            }

            throw Conflict(stateName, grainId, current?.ETag, expected);
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

        var response = await DynamoDBRetry.RunAsync(ct => _client.GetItemAsync(request, ct), cancellationToken, _time).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? Head.From(item) : null;
    }

    private void Reset<T>(IGrainState<T> grainState)
    {
        grainState.State = CreateInstance<T>();
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    private T CreateInstance<T>() => _activators.GetActivator<T>().Create();

    private InconsistentStateException Conflict(string stateName, GrainId grainId, string? stored, string? current) =>
        new($"State '{stateName}' of grain {grainId} in DynamoDB table '{TableName}' has ETag {stored ?? "(none)"}, but the grain has {current ?? "(none)"}: another activation or writer changed it.",
            stored, current);

    private InvalidDataException Corrupt(string stateName, GrainId grainId, Head head, string what) =>
        new($"State '{stateName}' of grain {grainId} in DynamoDB table '{TableName}' is corrupt: ETag {head.ETag} cannot be read because {what}.");

    internal static string HashKeyOf(string stateName, GrainId grainId)
    {
        var key = $"{stateName}/{grainId}";
        if (Encoding.UTF8.GetByteCount(key) <= MaxHashKeyBytes)
        {
            return key;
        }

        var type = grainId.Type.ToString()!;
        return $"{stateName[..Math.Min(stateName.Length, 200)]}/{type[..Math.Min(type.Length, 200)]}/~{Sha256(Encoding.UTF8.GetBytes(key))}";
    }

    private static Dictionary<string, string> ETagConditionNames() => new() { ["#e"] = ETagAttribute, ["#n"] = LegacyWriteIdAttribute };

    private static Dictionary<string, AttributeValue> HeadKey(string key) => ItemKey(key, HeadRangeKey);

    private static Dictionary<string, AttributeValue> ItemKey(string key, string rangeKey) =>
        new() { [HashKey] = new() { S = key }, [RangeKey] = new() { S = rangeKey } };

    /// <summary>64 random bits: an ETag, and the writer part of the chunk keys its write mints.</summary>
    private static string NewETag() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>The head item, as far as it was read.</summary>
    private sealed record Head(string ETag, byte[]? Data, List<string> Chunks, long Length, string? Hash)
    {
        public static Head From(Dictionary<string, AttributeValue> item) => new(
            item.GetValueOrDefault(ETagAttribute)?.S ?? item.GetValueOrDefault(LegacyWriteIdAttribute)?.S
                ?? throw new InvalidDataException($"The head item of '{item.GetValueOrDefault(HashKey)?.S}' has no ETag ({ETagAttribute}) attribute."),
            item.GetValueOrDefault(DataAttribute)?.B?.ToArray(),
            item.GetValueOrDefault(ChunksAttribute)?.L?.Select(v => v.S).ToList() ?? [],
            item.TryGetValue(LengthAttribute, out var length) ? long.Parse(length.N, System.Globalization.CultureInfo.InvariantCulture) : 0,
            item.GetValueOrDefault(HashAttribute)?.S);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Wrote state '{StateName}' of {GrainId}: ETag {ETag}, {Length} bytes in {Chunks} chunks")]
    private partial void LogWritten(string stateName, GrainId grainId, string etag, int length, int chunks);

    [LoggerMessage(Level = LogLevel.Information, Message = "The head write of state '{StateName}' of {GrainId} was retried after it had gone through; it succeeded, but chunk items of the head it replaced may be left as garbage")]
    private partial void LogCommitFoundOnRetry(string stateName, GrainId grainId);
}
