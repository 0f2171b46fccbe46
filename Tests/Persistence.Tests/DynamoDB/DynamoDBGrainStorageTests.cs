using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;
using Analytics.Aws.Tests;
using Analytics.Persistence.DynamoDB;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Orleans.Storage;

namespace Analytics.Persistence.Tests;

/// <summary>The DynamoDB grain storage against dynalite, which enforces the 400 KB item limit; each test on a table of its own.</summary>
[Collection(EmulatorCollection.Name)]
public sealed partial class DynamoDBGrainStorageTests(EmulatorHost emulators) : IDisposable
{
    private static readonly GrainId Grain = GrainId.Create("notes", "grain-1");

    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();
    private readonly string _prefix = EmulatorHost.UniqueName("gs") + "-";
    private readonly CountingSerializer _serializer = TestServices.Json();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task A_small_state_round_trips_inline_in_one_item_through_the_given_serializer()
    {
        var storage = Create();
        var written = new TestState<NotesState> { State = NotesState.Large(100) };
        await storage.WriteStateAsync("notes", Grain, written, default);
        Assert.Matches("^[0-9a-f]{16}$", written.ETag);
        Assert.True(written.RecordExists);

        var read = await ReadAsync(Create());
        Assert.Equal(written.State.Lines, read.State.Lines);
        Assert.Equal(written.ETag, read.ETag);
        Assert.True(read.RecordExists);
        Assert.Equal(0, storage.Statistics.ChunksWritten);
        Assert.Equal(["head"], await RangeKeysAsync());
        Assert.Equal((1, 1), (_serializer.Serialized, _serializer.Deserialized));

        // The bytes in the table are the serializer's: JSON.
        var head = await HeadItemAsync();
        Assert.StartsWith("{\"Lines\":[\"", System.Text.Encoding.UTF8.GetString(head!["D"].B.ToArray()));
    }

    [Fact]
    public async Task A_missing_state_reads_as_no_record_with_a_fresh_state()
    {
        var read = new TestState<NotesState> { State = NotesState.Large(10), ETag = "stale", RecordExists = true };
        await Create().ReadStateAsync("notes", Grain, read, default);
        Assert.Null(read.ETag);
        Assert.False(read.RecordExists);
        Assert.Empty(read.State.Lines);
    }

    [Fact]
    public async Task A_state_of_1_5_MB_round_trips_in_chunks_and_rewrites_only_the_changed_ones()
    {
        var storage = Create();
        var state = new TestState<NotesState> { State = NotesState.Large(1_500_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        var firstChunks = storage.Statistics.ChunksWritten;
        Assert.InRange(firstChunks, 6, 90);
        var firstETag = state.ETag;

        var read = await ReadAsync(Create());
        Assert.Equal(state.State.Lines, read.State.Lines);
        Assert.Equal(firstETag, read.ETag);

        // One line in the middle changes: only the chunks around it are new, and the replaced ones go.
        state.State.Lines[state.State.Lines.Count / 2] = "changed " + Guid.NewGuid();
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.NotEqual(firstETag, state.ETag);
        var rewritten = storage.Statistics.ChunksWritten - firstChunks;
        Assert.InRange(rewritten, 1, 3);
        Assert.True(storage.Statistics.ChunksSkipped >= firstChunks - 3, storage.Statistics.ToString());
        Assert.Equal(rewritten, storage.Statistics.ChunksDeleted);
        Assert.Equal(2, storage.Statistics.HeadWrites);

        read = await ReadAsync(Create());
        Assert.Equal(state.State.Lines, read.State.Lines);
        Assert.Equal(state.ETag, read.ETag);
        Assert.Equal(await ReferencedChunksAsync(), await ChunkKeysAsync());
    }

    [Fact]
    public async Task A_first_write_up_to_the_largest_item_is_one_item_and_later_writes_of_that_size_are_chunked()
    {
        var storage = Create();
        var state = new TestState<NotesState> { State = NotesState.Large(250_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.Equal(["head"], await RangeKeysAsync()); // a first write has no chunks to reuse: one item, not five
        Assert.Equal(0, storage.Statistics.ChunksWritten);
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);

        // From now on a write may reuse chunks, so one over InlineThreshold goes to them.
        state.State.Lines.Add("one more line");
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.InRange(storage.Statistics.ChunksWritten, 2, 20);
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);
        Assert.Equal(await ReferencedChunksAsync(), await ChunkKeysAsync());

        // With the first-write threshold at 0, a first write of that size is chunked too (the old behaviour).
        var other = GrainId.Create("notes", "grain-2");
        var chunked = Create(options: o => o.FirstWriteInlineThreshold = 0);
        await chunked.WriteStateAsync("notes", other, new TestState<NotesState> { State = NotesState.Large(250_000) }, default);
        Assert.InRange(chunked.Statistics.ChunksWritten, 2, 20);
    }

    [Fact]
    public async Task A_chunked_state_that_shrinks_back_below_the_inline_size_leaves_only_the_head()
    {
        var storage = Create();
        var state = new TestState<NotesState> { State = NotesState.Large(900_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.NotEmpty(await ChunkKeysAsync());

        state.State = NotesState.Large(1_000);
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.Equal(["head"], await RangeKeysAsync());
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);

        // And grows again.
        state.State = NotesState.Large(450_000);
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);
        Assert.Equal(await ReferencedChunksAsync(), await ChunkKeysAsync());
    }

    [Fact]
    public async Task A_stale_ETag_fails_writes_and_clears_with_InconsistentStateException()
    {
        var storage = Create();
        var first = new TestState<NotesState> { State = NotesState.Large(10) };
        await storage.WriteStateAsync("notes", Grain, first, default);
        var stale = new TestState<NotesState> { State = NotesState.Large(10), ETag = first.ETag };
        await storage.WriteStateAsync("notes", Grain, first, default);

        var write = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, stale, default));
        Assert.Equal(first.ETag, write.StoredEtag);
        Assert.Equal(stale.ETag, write.CurrentEtag);
        Assert.Contains(_prefix + "grain-state", write.Message);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("notes", Grain, stale, default));

        // Large states take the chunked path, with its own early check.
        stale.State = NotesState.Large(500_000);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, stale, default));

        // Nothing was changed by the failed calls.
        Assert.Equal(first.ETag, (await ReadAsync(storage)).ETag);
        Assert.NotEqual(first.ETag, stale.ETag);
        Assert.Equal(["head"], await RangeKeysAsync());
    }

    [Fact]
    public async Task A_first_write_with_an_ETag_fails_and_a_write_without_one_fails_once_the_record_exists()
    {
        var storage = Create();
        var ghost = new TestState<NotesState> { State = NotesState.Large(10), ETag = "0123456789abcdef" };
        var e = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, ghost, default));
        Assert.Null(e.StoredEtag);

        await storage.WriteStateAsync("notes", Grain, new TestState<NotesState> { State = NotesState.Large(10) }, default);
        var fresh = new TestState<NotesState> { State = NotesState.Large(500_000) };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, fresh, default));
        fresh.State = NotesState.Large(10);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, fresh, default));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("notes", Grain, fresh, default));
        Assert.Equal(["head"], await RangeKeysAsync());
    }

    [Fact]
    public async Task Clear_deletes_the_head_and_every_chunk_and_an_ETag_from_before_it_never_matches_again()
    {
        var storage = Create();
        var state = new TestState<NotesState> { State = NotesState.Large(800_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        var beforeClear = state.ETag;
        await storage.ClearStateAsync("notes", Grain, state, default);
        Assert.Null(state.ETag);
        Assert.False(state.RecordExists);
        Assert.Empty(state.State.Lines);
        Assert.Empty(await RangeKeysAsync());
        Assert.False((await ReadAsync(Create())).RecordExists);

        // Clearing what is not there succeeds, with or without an ETag.
        await storage.ClearStateAsync("notes", Grain, new TestState<NotesState>(), default);
        await storage.ClearStateAsync("notes", Grain, new TestState<NotesState> { ETag = beforeClear }, default);

        state.State = NotesState.Large(800_000);
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);

        // A writer still holding the ETag of the first lifetime is stale in the second.
        var old = new TestState<NotesState> { State = NotesState.Large(10), ETag = beforeClear };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, old, default));
        Assert.Equal(state.ETag, (await ReadAsync(Create())).ETag);
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(700_000)]
    public async Task Of_concurrent_writers_from_the_same_ETag_exactly_one_wins_and_the_losers_leave_no_chunks(int size)
    {
        var storage = Create();
        var initial = new TestState<NotesState> { State = NotesState.Large(size) };
        await storage.WriteStateAsync("notes", Grain, initial, default);

        var writers = Enumerable.Range(0, 8)
            .Select(_ => new TestState<NotesState> { State = NotesState.Large(size), ETag = initial.ETag })
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
        Assert.Equal(winner.ETag, read.ETag);
        Assert.Equal(winner.State.Lines, read.State.Lines);
        Assert.All(writers.Where(w => w != winner), w => Assert.Equal(initial.ETag, w.ETag));
        Assert.Equal(await ReferencedChunksAsync(), await ChunkKeysAsync());
    }

    [Fact]
    public async Task A_crash_before_the_head_write_leaves_the_old_state_and_the_next_write_removes_the_orphans()
    {
        var (client, faults) = FaultyDynamoDB.Wrap(_client);
        var storage = Create(client);
        var state = new TestState<NotesState> { State = NotesState.Large(1_200_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        var original = state.State.Lines.ToList();
        var committedChunks = await ChunkKeysAsync();

        // The writer dies after putting its chunks, before the commit.
        faults.Fault = (_, request) => request is PutItemRequest { Item: var item } && item["SK"].S == "head" ? new InvalidOperationException("simulated crash") : null;
        var crashing = new TestState<NotesState> { State = NotesState.Large(1_200_000), ETag = state.ETag };
        await Assert.ThrowsAsync<InvalidOperationException>(() => storage.WriteStateAsync("notes", Grain, crashing, default));
        faults.Fault = (_, _) => null;
        var orphans = (await ChunkKeysAsync()).Except(committedChunks).ToList();
        Assert.NotEmpty(orphans);

        var read = await ReadAsync(Create());
        Assert.Equal(original, read.State.Lines);
        Assert.Equal(state.ETag, read.ETag);

        // The next writer starts from the same head, so it finds the orphans under that head's ETag.
        var next = Create();
        read.State.Lines.Add("one more line");
        await next.WriteStateAsync("notes", Grain, read, default);
        Assert.Equal(await ReferencedChunksAsync(), await ChunkKeysAsync());
        Assert.True(next.Statistics.ChunksDeleted >= orphans.Count, next.Statistics.ToString());
        Assert.Equal(read.State.Lines, (await ReadAsync(Create())).State.Lines);
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(600_000)]
    public async Task A_head_write_retried_after_its_answer_was_lost_succeeds_instead_of_conflicting_with_itself(int size)
    {
        var (client, faults) = FaultyDynamoDB.Wrap(_client);
        var storage = Create(client);
        var state = new TestState<NotesState> { State = NotesState.Large(size) };
        await storage.WriteStateAsync("notes", Grain, state, default);

        // The put reaches the table, the answer does not; our retry then fails its own condition.
        faults.PutAnswersToLose = 1;
        state.State.Lines.Add("after the lost answer");
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.True(faults.PutAnswersToLose < 0, "the answer was lost");

        var read = await ReadAsync(Create());
        Assert.Equal(state.ETag, read.ETag);
        Assert.Equal(state.State.Lines, read.State.Lines);
        state.State.Lines.Add("and the grain's ETag is still the current one");
        await storage.WriteStateAsync("notes", Grain, state, default);
    }

    [Fact]
    public async Task A_missing_chunk_is_reported_as_corruption_not_as_an_empty_state()
    {
        var storage = Create();
        await storage.WriteStateAsync("notes", Grain, new TestState<NotesState> { State = NotesState.Large(600_000) }, default);
        var victim = (await ReferencedChunksAsync()).First();
        await _client.DeleteItemAsync(new DeleteItemRequest
        {
            TableName = TableName,
            Key = new() { ["PK"] = new() { S = PartitionKey }, ["SK"] = new() { S = victim } },
        });

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => ReadAsync(Create()));
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public async Task Throttled_calls_and_unprocessed_batch_items_are_retried_until_the_write_succeeds()
    {
        var (client, faults) = FaultyDynamoDB.Wrap(_client);
        var storage = Create(client);
        await storage.InitializeAsync(default);
        var throttled = 0;
        faults.Fault = (method, _) => method is "PutItemAsync" or "BatchWriteItemAsync" or "GetItemAsync" or "BatchGetItemAsync" && Interlocked.Increment(ref throttled) <= 6
            ? new ProvisionedThroughputExceededException("slow down")
            : null;
        faults.BatchWritesToSplit = 3;

        var state = new TestState<NotesState> { State = NotesState.Large(1_500_000) };
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
        var state = new TestState<NotesState> { State = NotesState.Large(400_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.True(http.Remaining < 0, "every throttling answer was used");
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);
    }

    [Fact]
    public async Task The_table_is_created_with_the_prefix_and_suffix_when_missing_and_required_when_creation_is_off()
    {
        var off = Create(tableOptions: o => o.CreateTables = false);
        var missing = await Assert.ThrowsAsync<InvalidOperationException>(() => off.InitializeAsync(default));
        Assert.Contains(TableName, missing.Message);

        await Create().InitializeAsync(default);
        var table = (await _client.DescribeTableAsync(TableName)).Table;
        Assert.Equal(TableStatus.ACTIVE, table.TableStatus);
        Assert.Equal(["PK:HASH", "SK:RANGE"], table.KeySchema.Select(k => $"{k.AttributeName}:{k.KeyType}"));
        await off.InitializeAsync(default);

        // Another suffix is another table, so two providers can keep the same state names apart.
        var other = Create(options: o => o.TableSuffix = "other-state");
        await other.WriteStateAsync("notes", Grain, new TestState<NotesState> { State = NotesState.Large(10) }, default);
        Assert.Equal(_prefix + "other-state", other.TableName);
        Assert.False((await ReadAsync(Create())).RecordExists);
    }

    [Fact]
    public void Bad_options_are_refused_with_a_message_naming_the_provider_and_the_setting()
    {
        var e = Assert.Throws<ArgumentException>(() => Create(options: o => o.AverageChunkSize = 100_000));
        Assert.Contains("DynamoDB grain storage 'test'", e.Message);
        Assert.Contains("AverageChunkSize must be a power of two", e.Message);

        e = Assert.Throws<ArgumentException>(() => Create(options: o => o.MaxChunkSize = 500 * 1024));
        Assert.Contains("400 KB", e.Message);

        e = Assert.Throws<ArgumentException>(() => Create(options: o => o.FirstWriteInlineThreshold = 390 * 1024));
        Assert.Contains("FirstWriteInlineThreshold must be between 0 and 389120 bytes", e.Message);

        e = Assert.Throws<ArgumentException>(() => Create(options: o => o.GrainStorageSerializer = null!));
        Assert.Contains("GrainStorageSerializer", e.Message);

        var validator = new DynamoDBGrainStorageOptionsValidator(new DynamoDBGrainStorageOptions { GrainStorageSerializer = _serializer, TableSuffix = "bad suffix" }, new DynamoDBOptions(), "analytics");
        var invalid = Assert.Throws<OrleansConfigurationException>(validator.ValidateConfiguration);
        Assert.Contains("DynamoDB grain storage 'analytics': TableSuffix 'bad suffix'", invalid.Message);
    }

    private string TableName => _prefix + "grain-state";

    private string PartitionKey => $"notes/{Grain}";

    private DynamoDBGrainStorage Create(IAmazonDynamoDB? client = null, Action<DynamoDBOptions>? tableOptions = null, Action<DynamoDBGrainStorageOptions>? options = null)
    {
        var table = new DynamoDBOptions { TablePrefix = _prefix };
        tableOptions?.Invoke(table);
        var storage = new DynamoDBGrainStorageOptions { GrainStorageSerializer = _serializer };
        options?.Invoke(storage);
        return new DynamoDBGrainStorage("test", storage, client ?? _client, table, TestServices.Activators, NullLogger<DynamoDBGrainStorage>.Instance);
    }

    private static async Task<TestState<NotesState>> ReadAsync(DynamoDBGrainStorage storage)
    {
        var state = new TestState<NotesState>();
        await storage.ReadStateAsync("notes", Grain, state, default);
        return state;
    }
}
