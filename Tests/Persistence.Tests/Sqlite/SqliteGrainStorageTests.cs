using Analytics.Persistence.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Orleans.Storage;

namespace Analytics.Persistence.Tests;

/// <summary>The SQLite grain storage on files in a folder of the test's own, deleted afterwards.</summary>
public sealed class SqliteGrainStorageTests : IAsyncLifetime
{
    private static readonly GrainId Grain = GrainId.Create("notes", "grain-1");

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "persistence-tests-" + Guid.NewGuid().ToString("N"));
    private readonly List<SqliteGrainStorage> _opened = [];
    private readonly CountingSerializer _serializer = TestServices.Json();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var storage in _opened)
        {
            await storage.DisposeAsync();
        }

        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public async Task State_round_trips_through_the_given_serializer_and_every_write_advances_the_ETag()
    {
        var storage = Create();
        var state = new TestState<NotesState> { State = NotesState.Large(100) };
        await storage.ReadStateAsync("notes", Grain, state, default);
        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);
        Assert.Empty(state.State.Lines);

        state.State.Lines.Add("first");
        await storage.WriteStateAsync("notes", Grain, state, default);
        var first = state.ETag;
        Assert.True(state.RecordExists);
        state.State.Lines.Add("second");
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.NotNull(first);
        Assert.NotEqual(first, state.ETag);

        var read = await ReadAsync(Create());
        Assert.True(read.RecordExists);
        Assert.Equal(["first", "second"], read.State.Lines);
        Assert.Equal(state.ETag, read.ETag);
        Assert.Equal(2, _serializer.Serialized);
        Assert.StartsWith("{\"Lines\":[\"first\",\"second\"]", System.Text.Encoding.UTF8.GetString(StoredBytes("state.db")));
    }

    [Fact]
    public async Task A_state_of_1_5_MB_round_trips_and_shrinks_back()
    {
        var storage = Create();
        var state = new TestState<NotesState> { State = NotesState.Large(1_500_000) };
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.Equal(state.State.Lines, (await ReadAsync(Create())).State.Lines);

        state.State = NotesState.Large(100);
        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.Equal(state.State.Lines, (await ReadAsync(storage)).State.Lines);
        Assert.InRange(StoredBytes("state.db").Length, 50, 1_000);
    }

    [Fact]
    public async Task A_stale_ETag_fails_writes_and_clears_with_InconsistentStateException_and_changes_nothing()
    {
        var storage = Create();
        var winner = new TestState<NotesState> { State = new() { Lines = ["winner"] } };
        await storage.WriteStateAsync("notes", Grain, winner, default);
        var stale = new TestState<NotesState> { State = new() { Lines = ["loser"] }, ETag = winner.ETag };
        await storage.WriteStateAsync("notes", Grain, winner, default);

        var write = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, stale, default));
        Assert.Equal(winner.ETag, write.StoredEtag);
        Assert.Equal(stale.ETag, write.CurrentEtag);
        Assert.Contains("SQLite grain storage 'test'", write.Message);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("notes", Grain, stale, default));

        // No ETag at all, or one that is no ETag of ours, is stale too once the record exists.
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, new TestState<NotesState>(), default));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("notes", Grain, new TestState<NotesState>(), default));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, new TestState<NotesState> { ETag = "not-a-number" }, default));

        var read = await ReadAsync(storage);
        Assert.Equal(["winner"], read.State.Lines);
        Assert.Equal(winner.ETag, read.ETag);
    }

    [Fact]
    public async Task A_first_write_with_an_ETag_fails()
    {
        var storage = Create();
        var e = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, new TestState<NotesState> { ETag = "7" }, default));
        Assert.Null(e.StoredEtag);
        Assert.False((await ReadAsync(storage)).RecordExists);
    }

    [Fact]
    public async Task Clear_removes_the_record_and_an_ETag_from_before_it_never_matches_again()
    {
        var storage = Create();
        var state = new TestState<NotesState> { State = new() { Lines = ["a"] } };
        await storage.WriteStateAsync("notes", Grain, state, default);
        var beforeClear = state.ETag;
        await storage.ClearStateAsync("notes", Grain, state, default);
        Assert.Null(state.ETag);
        Assert.False(state.RecordExists);
        Assert.Empty(state.State.Lines);
        Assert.False((await ReadAsync(storage)).RecordExists);

        // Clearing what is not there succeeds, with or without an ETag.
        await storage.ClearStateAsync("notes", Grain, new TestState<NotesState>(), default);
        await storage.ClearStateAsync("notes", Grain, new TestState<NotesState> { ETag = beforeClear }, default);

        await storage.WriteStateAsync("notes", Grain, state, default);
        Assert.NotEqual(beforeClear, state.ETag);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, new TestState<NotesState> { ETag = beforeClear }, default));

        // Reopening the file does not start the ETags again either.
        await storage.DisposeAsync();
        var reopened = Create();
        await reopened.ClearStateAsync("notes", Grain, state, default);
        await reopened.WriteStateAsync("notes", Grain, state, default);
        Assert.True(long.Parse(state.ETag!) > long.Parse(beforeClear!) + 1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Of_concurrent_writers_from_the_same_ETag_exactly_one_wins(bool separateInstances)
    {
        // One instance batches them into one transaction; separate instances on one file (two
        // silos on one machine) race for its write lock.
        var storage = Create();
        var initial = new TestState<NotesState> { State = new() { Lines = ["initial"] } };
        await storage.WriteStateAsync("notes", Grain, initial, default);
        var instances = Enumerable.Range(0, 8).Select(i => separateInstances ? Create() : storage).ToList();

        var writers = Enumerable.Range(0, 8).Select(i => new TestState<NotesState> { State = new() { Lines = [$"writer {i}"] }, ETag = initial.ETag }).ToList();
        var outcomes = await Task.WhenAll(writers.Select((w, i) => Task.Run(async () =>
        {
            try
            {
                await instances[i].WriteStateAsync("notes", Grain, w, default);
                return true;
            }
            catch (InconsistentStateException)
            {
                return false;
            }
        })));

        Assert.Single(outcomes, won => won);
        var winner = writers[Array.IndexOf(outcomes, true)];
        var read = await ReadAsync(Create());
        Assert.Equal(winner.ETag, read.ETag);
        Assert.Equal(winner.State.Lines, read.State.Lines);
    }

    [Fact]
    public async Task Concurrent_writes_of_many_grains_commit_together_and_survive_reopening_the_file()
    {
        var storage = Create();
        var states = Enumerable.Range(0, 500).Select(i => new TestState<NotesState> { State = new() { Lines = [$"g{i}"] } }).ToList();
        await Task.WhenAll(states.Select((s, i) => storage.WriteStateAsync("notes", GrainId.Create("notes", $"g{i}"), s, default)));
        Assert.Equal(500, states.Select(s => s.ETag).Distinct().Count());
        await storage.DisposeAsync();

        var reopened = Create();
        for (var i = 0; i < 500; i += 50)
        {
            var read = new TestState<NotesState>();
            await reopened.ReadStateAsync("notes", GrainId.Create("notes", $"g{i}"), read, default);
            Assert.Equal([$"g{i}"], read.State.Lines);
            Assert.Equal(states[i].ETag, read.ETag);
        }
    }

    [Fact]
    public async Task The_file_is_in_WAL_mode_and_writes_complete_only_after_a_full_sync_commit()
    {
        var storage = Create();
        await storage.WriteStateAsync("notes", Grain, new TestState<NotesState> { State = new() { Lines = ["x"] } }, default);
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_folder, "state.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", command.ExecuteScalar());

        // synchronous is per connection: ask the provider's own (2 is FULL, 1 NORMAL).
        Assert.Equal(2, storage.SynchronousLevel());
        var relaxed = Create("relaxed.db", o => o.FullSync = false);
        Assert.Equal(1, relaxed.SynchronousLevel());
    }

    [Fact]
    public async Task Disposing_commits_the_writes_already_queued_and_refuses_later_ones()
    {
        var storage = Create();
        var writes = Enumerable.Range(0, 50)
            .Select(i => storage.WriteStateAsync("notes", GrainId.Create("notes", $"q{i}"), new TestState<NotesState> { State = new() { Lines = [$"q{i}"] } }, default))
            .ToList();
        await storage.DisposeAsync();
        await Task.WhenAll(writes);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => storage.WriteStateAsync("notes", Grain, new TestState<NotesState>(), default));

        var read = new TestState<NotesState>();
        await Create().ReadStateAsync("notes", GrainId.Create("notes", "q49"), read, default);
        Assert.Equal(["q49"], read.State.Lines);
    }

    [Fact]
    public void Bad_options_are_refused_with_a_message_naming_the_provider_and_the_setting()
    {
        var e = Assert.Throws<ArgumentException>(() => Create(configure: o => o.FilePath = " "));
        Assert.Contains("SQLite grain storage 'test': FilePath must be set.", e.Message);
        e = Assert.Throws<ArgumentException>(() => Create(configure: o => o.MaxWritesPerCommit = 0));
        Assert.Contains("MaxWritesPerCommit", e.Message);

        var validator = new SqliteGrainStorageOptionsValidator(new SqliteGrainStorageOptions { GrainStorageSerializer = null! }, "analytics");
        var invalid = Assert.Throws<OrleansConfigurationException>(validator.ValidateConfiguration);
        Assert.Contains("SQLite grain storage 'analytics': GrainStorageSerializer", invalid.Message);
    }

    /// <summary>A new instance each call; on the same file unless told otherwise.</summary>
    private SqliteGrainStorage Create(string file = "state.db", Action<SqliteGrainStorageOptions>? configure = null)
    {
        var options = new SqliteGrainStorageOptions { FilePath = Path.Combine(_folder, file), GrainStorageSerializer = _serializer };
        configure?.Invoke(options);
        var storage = new SqliteGrainStorage("test", options, TestServices.Activators, NullLogger<SqliteGrainStorage>.Instance);
        _opened.Add(storage);
        return storage;
    }

    private static async Task<TestState<NotesState>> ReadAsync(SqliteGrainStorage storage)
    {
        var state = new TestState<NotesState>();
        await storage.ReadStateAsync("notes", Grain, state, default);
        return state;
    }

    private byte[] StoredBytes(string file)
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_folder, file)};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT data FROM grain_state WHERE grain_id = $g AND state_name = 'notes'";
        command.Parameters.AddWithValue("$g", Grain.ToString());
        return (byte[])command.ExecuteScalar()!;
    }
}
