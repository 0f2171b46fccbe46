using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Runtime;
using Analytics.Aws.DynamoDB;
using Analytics.Runtime.Aws.DynamoDB;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Aws.Tests;

/// <summary>The DynamoDB grain storage against dynalite, which enforces the 400 KB item limit.</summary>
[Collection(EmulatorCollection.Name)]
public sealed class DynamoDBGrainStorageTests(EmulatorHost emulators) : IDisposable
{
    private static readonly GrainId Grain = new("notes", "grain-1");

    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();
    private readonly string _prefix = EmulatorHost.UniqueName("gs") + "-";

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task A_small_state_round_trips_inline_in_one_item()
    {
        var storage = Create();
        var written = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(100) };
        await storage.WriteStateAsync("notes", Grain, written, default);
        Assert.Equal("1", written.ETag);
        Assert.True(written.RecordExists);

        var read = await ReadAsync(Create());
        Assert.Equal(written.State.Lines, read.State.Lines);
        Assert.Equal("1", read.ETag);
        Assert.True(read.RecordExists);
        Assert.Equal(0, storage.Statistics.ChunksWritten);
        Assert.Equal(["head"], await RangeKeysAsync());
    }

    [Fact]
    public async Task A_missing_state_reads_as_no_record()
    {
        var read = await ReadAsync(Create());
        Assert.Null(read.ETag);
        Assert.False(read.RecordExists);
    }

    [Fact]
    public async Task A_state_of_1_5_MB_round_trips_in_chunks_and_rewrites_only_the_changed_ones()
    {
        var storage = Create();
        var state = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(1_500_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        var firstChunks = storage.Statistics.ChunksWritten;
        Assert.InRange(firstChunks, 6, 90);

        var read = await ReadAsync(Create());
        Assert.Equal(state.State.Lines, read.State.Lines);

        // One line in the middle changes: only the chunks around it are new, and the replaced ones go.
        state.State.Lines[state.State.Lines.Count / 2] = "changed " + Guid.NewGuid();
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.Equal("2", state.ETag);
        var rewritten = storage.Statistics.ChunksWritten - firstChunks;
        Assert.InRange(rewritten, 1, 3);
        Assert.True(storage.Statistics.ChunksSkipped >= firstChunks - 3, storage.Statistics.ToString());
        Assert.Equal(rewritten, storage.Statistics.ChunksDeleted);
        Assert.Equal(2, storage.Statistics.HeadWrites);

        read = await ReadAsync(Create());
        Assert.Equal(state.State.Lines, read.State.Lines);
        Assert.Equal("2", read.ETag);
        Assert.Equal(await ReferencedChunksAsync(), await ChunkKeysAsync());
    }

    [Fact]
    public async Task A_stale_ETag_fails_writes_and_clears_with_InconsistentStateException()
    {
        var storage = Create();
        var first = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(10) };
        await storage.WriteStateAsync("notes", Grain, first, default);
        var stale = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(10), ETag = first.ETag };
        await storage.WriteStateAsync("notes", Grain, first, default);

        var write = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, stale, default));
        Assert.Equal("1", write.StoredETag);
        Assert.Equal("2", write.CurrentETag);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("notes", Grain, stale, default));

        // Large states take the chunked path, with its own early check.
        stale.State = DynamoNotesState.Large(500_000);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, stale, default));

        // Nothing was changed by the failed calls.
        Assert.Equal("2", (await ReadAsync(storage)).ETag);
        Assert.Equal("1", stale.ETag);
    }

    [Fact]
    public async Task A_first_write_with_an_ETag_fails_and_a_write_without_one_fails_once_the_record_exists()
    {
        var storage = Create();
        var ghost = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(10), ETag = "7" };
        var e = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, ghost, default));
        Assert.Null(e.CurrentETag);

        await storage.WriteStateAsync("notes", Grain, new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(10) }, default);
        var fresh = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(500_000) };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, fresh, default));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("notes", Grain, fresh, default));
    }

    [Fact]
    public async Task Clear_deletes_the_head_and_every_chunk_and_the_state_can_be_written_again()
    {
        var storage = Create();
        var state = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(800_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        await storage.ClearStateAsync("notes", Grain, state, default);
        Assert.Null(state.ETag);
        Assert.False(state.RecordExists);
        Assert.Empty(await RangeKeysAsync());
        Assert.False((await ReadAsync(Create())).RecordExists);

        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.Equal("1", state.ETag);
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(700_000)]
    public async Task Of_concurrent_writers_from_the_same_ETag_exactly_one_wins(int size)
    {
        var storage = Create();
        var initial = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(size) };
        await storage.WriteStateAsync("notes", Grain, initial, default);

        var writers = Enumerable.Range(0, 8)
            .Select(_ => new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(size), ETag = initial.ETag })
            .ToList();
        var outcomes = await Task.WhenAll(writers.Select(async w =>
        {
            try
            {
                await Create().WriteStateAsync("notes", Grain, w, default);
                return true;
            }
            catch (InconsistentStateException)
            {
                return false;
            }
        }));

        Assert.Single(outcomes, won => won);
        var winner = writers[Array.IndexOf(outcomes, true)];
        var read = await ReadAsync(Create());
        Assert.Equal("2", read.ETag);
        Assert.Equal(winner.State.Lines, read.State.Lines);
    }

    [Fact]
    public async Task A_crash_before_the_head_write_leaves_the_old_state_and_the_next_write_removes_the_orphans()
    {
        var (client, faults) = GrainStorageFaultyDynamoDB.Wrap(_client);
        var storage = Create(client);
        var state = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(1_200_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        var original = state.State.Lines.ToList();
        var committedChunks = await ChunkKeysAsync();

        // The writer dies after putting its chunks, before the commit.
        faults.Fault = (_, request) => request is PutItemRequest { Item: var item } && item["SK"].S == "head" ? new InvalidOperationException("simulated crash") : null;
        var crashing = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(1_200_000), ETag = state.ETag };
        await Assert.ThrowsAsync<InvalidOperationException>(() => storage.WriteStateAsync("notes", Grain, crashing, default));
        faults.Fault = (_, _) => null;
        var orphans = (await ChunkKeysAsync()).Except(committedChunks).ToList();
        Assert.NotEmpty(orphans);

        var read = await ReadAsync(Create());
        Assert.Equal(original, read.State.Lines);
        Assert.Equal("1", read.ETag);

        // The next writer starts from the same head, so it finds the orphans under that head's write id.
        var next = Create();
        read.State.Lines.Add("one more line");
        await next.WriteStateAsync("notes", Grain, read, default);
        Assert.Equal(await ReferencedChunksAsync(), await ChunkKeysAsync());
        Assert.True(next.Statistics.ChunksDeleted >= orphans.Count, next.Statistics.ToString());
        Assert.Equal(read.State.Lines, (await ReadAsync(Create())).State.Lines);
    }

    [Fact]
    public async Task A_missing_chunk_is_reported_as_corruption_not_as_an_empty_state()
    {
        var storage = Create();
        await storage.WriteStateAsync("notes", Grain, new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(600_000) }, default);
        var victim = (await ReferencedChunksAsync()).First();
        await _client.DeleteItemAsync(new DeleteItemRequest
        {
            TableName = _prefix + "grain-state",
            Key = new() { ["PK"] = new() { S = PartitionKey }, ["SK"] = new() { S = victim } },
        });

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => ReadAsync(Create()));
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public async Task Throttled_calls_and_unprocessed_batch_items_are_retried_until_the_write_succeeds()
    {
        var (client, faults) = GrainStorageFaultyDynamoDB.Wrap(_client);
        var storage = Create(client);
        await storage.InitializeAsync(default);
        var throttled = 0;
        faults.Fault = (method, _) => method is "PutItemAsync" or "BatchWriteItemAsync" or "GetItemAsync" or "BatchGetItemAsync" && Interlocked.Increment(ref throttled) <= 6
            ? new ProvisionedThroughputExceededException("slow down")
            : null;
        faults.BatchWritesToSplit = 3;

        var state = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(1_500_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.True(throttled > 6);
        Assert.True(faults.BatchWritesToSplit < 3, "some batch write came back partly unprocessed");
        Assert.Equal(state.State.Lines, (await ReadAsync(Create(client))).State.Lines);
    }

    [Fact]
    public async Task Throttling_answers_from_the_service_are_retried_past_the_SDK()
    {
        // The SDK's own retries are off, so every throttling answer reaches DynamoDBRetry as the
        // SDK's exception for it, parsed from the wire.
        var http = new ThrottlingHttpClientFactory(throttles: 5);
        using var throttled = new AmazonDynamoDBClient(
            EmulatorHost.Credentials,
            new AmazonDynamoDBConfig { ServiceURL = emulators.DynamoDbUrl.ToString(), AuthenticationRegion = EmulatorHost.Region, MaxErrorRetry = 0, HttpClientFactory = http });
        var storage = Create(throttled);
        var state = new DynamoTestState<DynamoNotesState> { State = DynamoNotesState.Large(400_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.True(http.Remaining < 0, "every throttling answer was used");
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);
    }

    [Fact]
    public async Task The_table_is_created_with_the_prefix_when_missing_and_required_when_creation_is_off()
    {
        var off = Create(tableOptions: o => o.CreateTables = false);
        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() => off.InitializeAsync(default));
        Assert.Contains(_prefix + "grain-state", missing.Message);

        await Create().InitializeAsync(default);
        var table = (await _client.DescribeTableAsync(_prefix + "grain-state")).Table;
        Assert.Equal(TableStatus.ACTIVE, table.TableStatus);
        Assert.Equal(["PK:HASH", "SK:RANGE"], table.KeySchema.Select(k => $"{k.AttributeName}:{k.KeyType}"));
        await off.InitializeAsync(default);
    }

    [Fact]
    public async Task A_grain_state_written_in_one_cluster_is_read_back_by_the_next()
    {
        async Task<TestCluster> StartAsync() => await TestCluster.StartAsync(new TestClusterOptions
        {
            InitialSilos = 1,
            ConfigureServices = services =>
            {
                services.AddSingleton<IAmazonDynamoDB>(_client);
                services.Configure<DynamoDBOptions>(o => o.TablePrefix = _prefix);
            },
            ConfigureSilo = silo => silo.AddDynamoDBGrainStorage("dynamo", o => o.InlineThreshold = 1024),
        });

        await using (var cluster = await StartAsync())
        {
            // The silo created the table at start, before any grain ran.
            Assert.Equal(TableStatus.ACTIVE, (await _client.DescribeTableAsync(_prefix + "grain-state")).Table.TableStatus);
            var grain = cluster.GrainFactory.GetGrain<IDynamoNotesGrain>("a");
            Assert.Equal(0, await grain.Count());
            await grain.Append("small");
            await grain.Append(new string('x', 600_000));
            Assert.Equal(2, await grain.Count());
        }

        await using (var cluster = await StartAsync())
        {
            var grain = cluster.GrainFactory.GetGrain<IDynamoNotesGrain>("a");
            Assert.Equal(2, await grain.Count());
            Assert.Equal("2", await grain.ETag());
            await grain.Append("third");
            Assert.Equal("3", await grain.ETag());
        }
    }

    private string PartitionKey => $"notes/{Grain}";

    private DynamoDBGrainStorage Create(IAmazonDynamoDB? client = null, Action<DynamoDBOptions>? tableOptions = null)
    {
        var options = new DynamoDBOptions { TablePrefix = _prefix };
        tableOptions?.Invoke(options);
        return new DynamoDBGrainStorage("test", new DynamoDBGrainStorageOptions(), client ?? _client, options, NullLogger<DynamoDBGrainStorage>.Instance);
    }

    private static async Task<DynamoTestState<DynamoNotesState>> ReadAsync(DynamoDBGrainStorage storage)
    {
        var state = new DynamoTestState<DynamoNotesState>();
        await storage.ReadStateAsync("notes", Grain, state, default);
        return state;
    }

    private async Task<List<string>> RangeKeysAsync()
    {
        // A Query page stops at 1 MB of items, and chunks are large: follow the pages.
        var keys = new List<string>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var response = await _client.QueryAsync(new QueryRequest
            {
                TableName = _prefix + "grain-state",
                KeyConditionExpression = "PK = :k",
                ExpressionAttributeValues = new() { [":k"] = new() { S = PartitionKey } },
                ProjectionExpression = "SK",
                ConsistentRead = true,
                ExclusiveStartKey = start,
            });
            keys.AddRange((response.Items ?? []).Select(i => i["SK"].S));
            start = response.LastEvaluatedKey is { Count: > 0 } last ? last : null;
        }
        while (start is not null);

        return keys.Order(StringComparer.Ordinal).ToList();
    }

    private async Task<List<string>> ChunkKeysAsync() => (await RangeKeysAsync()).Where(k => k.StartsWith("c#", StringComparison.Ordinal)).ToList();

    private async Task<List<string>> ReferencedChunksAsync()
    {
        var head = await _client.GetItemAsync(new GetItemRequest
        {
            TableName = _prefix + "grain-state",
            Key = new() { ["PK"] = new() { S = PartitionKey }, ["SK"] = new() { S = "head" } },
            ConsistentRead = true,
        });
        return (head.Item["C"].L ?? []).Select(v => v.S).Distinct().Order(StringComparer.Ordinal).ToList();
    }
}
