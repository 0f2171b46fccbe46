using Analytics.Runtime.Persistence;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Runtime.Tests;

public sealed class PersistenceTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "runtime-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private sealed class TestState<T> : IGrainState<T>
    {
        public T State { get; set; } = default!;

        public string? ETag { get; set; }

        public bool RecordExists { get; set; }
    }

    public static IEnumerable<object[]> Providers() => [["memory"], ["sqlite"]];

    private IGrainStorage Create(string kind) => kind == "memory"
        ? new MemoryGrainStorage(new MemoryGrainStorage.Store())
        : new SqliteGrainStorage(new SqliteGrainStorageOptions { FilePath = Path.Combine(_folder, "state.db") }, NullLogger<SqliteGrainStorage>.Instance);

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task State_round_trips_and_every_write_advances_the_etag(string kind)
    {
        var storage = Create(kind);
        var id = new GrainId("counter", "a");
        var state = new TestState<CounterState> { State = new CounterState { Value = 41 } };
        await storage.ReadStateAsync("s", id, state, default);
        Assert.False(state.RecordExists);
        Assert.Null(state.ETag);

        await storage.WriteStateAsync("s", id, state, default);
        var first = state.ETag;
        state.State.Value = 42;
        await storage.WriteStateAsync("s", id, state, default);
        Assert.NotEqual(first, state.ETag);

        var read = new TestState<CounterState>();
        await storage.ReadStateAsync("s", id, read, default);
        Assert.True(read.RecordExists);
        Assert.Equal(42, read.State.Value);
        Assert.Equal(state.ETag, read.ETag);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_write_with_a_stale_etag_throws_InconsistentStateException(string kind)
    {
        var storage = Create(kind);
        var id = new GrainId("counter", "stale");
        var winner = new TestState<CounterState> { State = new CounterState { Value = 1 } };
        var loser = new TestState<CounterState> { State = new CounterState { Value = 2 } };
        await storage.ReadStateAsync("s", id, winner, default);
        await storage.ReadStateAsync("s", id, loser, default);

        await storage.WriteStateAsync("s", id, winner, default);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("s", id, loser, default));

        var read = new TestState<CounterState>();
        await storage.ReadStateAsync("s", id, read, default);
        Assert.Equal(1, read.State.Value);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Clear_removes_the_record_under_the_same_etag_condition(string kind)
    {
        var storage = Create(kind);
        var id = new GrainId("counter", "clear");
        var state = new TestState<CounterState> { State = new CounterState { Value = 5 } };
        await storage.WriteStateAsync("s", id, state, default);
        var stale = new TestState<CounterState> { ETag = "999" };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("s", id, stale, default));

        await storage.ClearStateAsync("s", id, state, default);
        var read = new TestState<CounterState>();
        await storage.ReadStateAsync("s", id, read, default);
        Assert.False(read.RecordExists);
    }

    [Fact]
    public async Task Sqlite_state_survives_reopening_the_file_and_concurrent_writes_commit_together()
    {
        var options = new SqliteGrainStorageOptions { FilePath = Path.Combine(_folder, "reopen.db") };
        var storage = new SqliteGrainStorage(options, NullLogger<SqliteGrainStorage>.Instance);
        await Task.WhenAll(Enumerable.Range(0, 500).Select(i =>
            storage.WriteStateAsync("s", new GrainId("counter", $"g{i}"), new TestState<CounterState> { State = new CounterState { Value = i } }, default)));
        await storage.DisposeAsync();

        var reopened = new SqliteGrainStorage(options, NullLogger<SqliteGrainStorage>.Instance);
        for (var i = 0; i < 500; i += 50)
        {
            var read = new TestState<CounterState>();
            await reopened.ReadStateAsync("s", new GrainId("counter", $"g{i}"), read, default);
            Assert.Equal(i, read.State.Value);
        }

        await reopened.DisposeAsync();
    }

    [Fact]
    public async Task A_grain_whose_storage_is_missing_fails_to_activate_with_a_message_naming_the_provider()
    {
        await using var cluster = await Testing.TestCluster.StartAsync(new Testing.TestClusterOptions
        {
            InitialSilos = 1,
            ConfigureServices = s => Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton(s, new ActivationLedger()),
        });
        var error = await Assert.ThrowsAsync<GrainActivationException>(() => cluster.GrainFactory.GetGrain<ICounterGrain>("x").Get());
        Assert.Contains("grain storage 'store'", error.Message);
    }

    [Fact]
    public async Task A_stale_activation_is_fenced_by_the_etag_and_dropped_so_the_next_call_reloads()
    {
        var ledger = new ActivationLedger();
        await using var cluster = await Clusters.StartAsync(silos: 1, ledger: ledger);
        var grain = cluster.GrainFactory.GetGrain<ICounterGrain>("fenced");
        await grain.Add(1);

        // Someone else (another activation during a membership change) writes the state behind its back.
        var storage = (IGrainStorage)Microsoft.Extensions.DependencyInjection.ServiceProviderKeyedServiceExtensions.GetRequiredKeyedService<IGrainStorage>(cluster.Silos[0].Services, "store");
        var other = new TestState<CounterState>();
        await storage.ReadStateAsync("counter", new GrainId("counter", "fenced"), other, default);
        other.State.Value = 100;
        await storage.WriteStateAsync("counter", new GrainId("counter", "fenced"), other, default);

        await Assert.ThrowsAsync<InconsistentStateException>(() => grain.Add(1));
        Assert.Equal(101, await grain.Add(1));
        Assert.Equal(2, ledger.Activations["fenced"]);
        Assert.Contains("StaleState", ledger.DeactivationReasons);
    }
}
