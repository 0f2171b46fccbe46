using Amazon.DynamoDBv2;
using Analytics.Aws.DynamoDB;
using Analytics.Runtime.Aws.DynamoDB;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.Leases;

namespace Analytics.Aws.Tests;

/// <summary>
/// What every <see cref="IQueueLeaseTable"/> must do, run against the memory table of test clusters
/// and the DynamoDB table of production alike, so that the two cannot drift apart.
/// </summary>
public abstract class QueueLeaseTableConformanceTests : IAsyncLifetime
{
    private const string OwnerA = "silo-a";
    private const string OwnerB = "silo-b";

    private IQueueLeaseTable? _table;

    protected IQueueLeaseTable Table => _table ?? throw new InvalidOperationException("Not initialized.");

    // Each test gets its own provider as well, in case an implementation shares its table between tests.
    protected string Provider { get; } = EmulatorHost.UniqueName("p");

    protected abstract IQueueLeaseTable CreateTable();

    public async Task InitializeAsync()
    {
        _table = CreateTable();
        await _table.InitializeAsync(CancellationToken.None);
    }

    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Create_if_missing_is_idempotent_and_keeps_an_existing_lease()
    {
        var queue = await CreateAsync("shard-0");
        var held = await Table.TryAcquireAsync(await LeaseAsync(queue), OwnerA, default);
        Assert.NotNull(held);
        Assert.True(await Table.TryCheckpointAsync(queue, OwnerA, "17", default));

        await Table.CreateIfMissingAsync(new QueueInfo(queue, ["other-parent"]), default);
        await Table.CreateIfMissingAsync(new QueueInfo(queue, []), default);

        var lease = Assert.Single(await ListAsync());
        Assert.Equal(new QueueLease(queue, OwnerA, 1, "17", []), lease, LeaseComparer.Instance);
    }

    [Fact]
    public async Task A_new_lease_is_free_with_counter_zero_and_no_checkpoint()
    {
        var queue = await CreateAsync("shard-0");

        var lease = await LeaseAsync(queue);

        Assert.Null(lease.Owner);
        Assert.Equal(0, lease.Counter);
        Assert.Null(lease.Checkpoint);
        Assert.Null(lease.CheckpointToken);
        Assert.False(lease.IsEnded);
    }

    [Fact]
    public async Task A_free_lease_is_acquired()
    {
        var queue = await CreateAsync("shard-0");

        var held = await Table.TryAcquireAsync(await LeaseAsync(queue), OwnerA, default);

        Assert.NotNull(held);
        Assert.Equal(OwnerA, held.Owner);
        Assert.Equal(1, held.Counter);
        Assert.Equal(held, await LeaseAsync(queue), LeaseComparer.Instance);
    }

    [Fact]
    public async Task Acquiring_with_a_stale_counter_or_owner_fails()
    {
        var queue = await CreateAsync("shard-0");
        var observed = await LeaseAsync(queue);
        var held = await Table.TryAcquireAsync(observed, OwnerA, default);
        Assert.NotNull(held);

        Assert.Null(await Table.TryAcquireAsync(observed, OwnerB, default));
        Assert.Null(await Table.TryAcquireAsync(held with { Owner = OwnerB }, OwnerB, default));
        Assert.Null(await Table.TryAcquireAsync(held with { Counter = held.Counter + 1 }, OwnerB, default));
        Assert.Equal(held, await LeaseAsync(queue), LeaseComparer.Instance);
    }

    [Fact]
    public async Task Of_concurrent_acquirers_of_one_observed_lease_exactly_one_wins()
    {
        var queue = await CreateAsync("shard-0");
        for (var round = 0; round < 20; round++)
        {
            var observed = await LeaseAsync(queue);
            var owners = Enumerable.Range(0, 4).Select(i => $"silo-{round}-{i}").ToList();

            var results = await Task.WhenAll(owners.Select(owner => Task.Run(() => Table.TryAcquireAsync(observed, owner, default))));

            var winner = Assert.Single(results, r => r is not null);
            Assert.Equal(observed.Counter + 1, winner!.Counter);
            Assert.Equal(winner, await LeaseAsync(queue), LeaseComparer.Instance);
        }
    }

    [Fact]
    public async Task Renewal_bumps_the_counter_and_fails_once_the_lease_was_stolen()
    {
        var queue = await CreateAsync("shard-0");
        var held = await Table.TryAcquireAsync(await LeaseAsync(queue), OwnerA, default);
        Assert.NotNull(held);

        var renewed = await Table.TryRenewAsync(held, default);
        Assert.NotNull(renewed);
        Assert.Equal(held with { Counter = held.Counter + 1 }, renewed, LeaseComparer.Instance);
        Assert.Null(await Table.TryRenewAsync(held, default)); // the counter moved on

        var stolen = await Table.TryAcquireAsync(renewed, OwnerB, default);
        Assert.NotNull(stolen);
        Assert.Equal(OwnerB, stolen.Owner);
        Assert.Null(await Table.TryRenewAsync(renewed, default));
        Assert.Equal(stolen, await LeaseAsync(queue), LeaseComparer.Instance);
    }

    [Fact]
    public async Task Only_the_owner_moves_the_checkpoint_whatever_the_counter()
    {
        var queue = await CreateAsync("shard-0");
        var held = await Table.TryAcquireAsync(await LeaseAsync(queue), OwnerA, default);
        Assert.NotNull(held);
        Assert.NotNull(await Table.TryRenewAsync(held, default));
        var token = new StreamSequenceToken("49590338271490256608559692538361571095921575989136588898", 3).ToString();

        Assert.True(await Table.TryCheckpointAsync(queue, OwnerA, token, default));
        Assert.False(await Table.TryCheckpointAsync(queue, OwnerB, "99", default));

        var lease = await LeaseAsync(queue);
        Assert.Equal(token, lease.Checkpoint);
        Assert.Equal(StreamSequenceToken.Parse(token), lease.CheckpointToken);
        Assert.Equal(2, lease.Counter); // a checkpoint is no ownership change
    }

    [Fact]
    public async Task A_released_lease_is_free_and_acquired_by_another()
    {
        var queue = await CreateAsync("shard-0");
        var held = await Table.TryAcquireAsync(await LeaseAsync(queue), OwnerA, default);
        Assert.NotNull(held);
        Assert.True(await Table.TryCheckpointAsync(queue, OwnerA, "5", default));

        Assert.True(await Table.TryReleaseAsync(held, default));

        var free = await LeaseAsync(queue);
        Assert.Null(free.Owner);
        Assert.Equal(held.Counter + 1, free.Counter);
        Assert.Equal("5", free.Checkpoint); // the next reader goes on from it
        Assert.False(await Table.TryCheckpointAsync(queue, OwnerA, "6", default));
        Assert.Null(await Table.TryRenewAsync(held, default));

        var taken = await Table.TryAcquireAsync(free, OwnerB, default);
        Assert.NotNull(taken);
        Assert.Equal(OwnerB, taken.Owner);
        Assert.False(await Table.TryReleaseAsync(held, default)); // lost already
    }

    [Fact]
    public async Task Writes_to_a_missing_lease_fail_and_create_nothing()
    {
        var missing = new QueueId(Provider, "never-created");
        var phantom = new QueueLease(missing, null, 0, null, []);

        Assert.Null(await Table.TryAcquireAsync(phantom, OwnerA, default));
        Assert.Null(await Table.TryRenewAsync(phantom, default));
        Assert.False(await Table.TryReleaseAsync(phantom, default));
        Assert.False(await Table.TryCheckpointAsync(missing, OwnerA, "1", default));
        await Table.DeleteAsync(phantom with { Checkpoint = QueueLease.EndCheckpoint }, default);

        Assert.Empty(await ListAsync());
    }

    [Fact]
    public async Task Parents_round_trip_in_order()
    {
        await Table.CreateIfMissingAsync(new QueueInfo(new QueueId(Provider, "child"), ["shard-9", "shard-1"]), default);
        await Table.CreateIfMissingAsync(new QueueInfo(new QueueId(Provider, "orphan"), []), default);

        var leases = (await ListAsync()).ToDictionary(l => l.Queue.Name);

        Assert.Equal(["shard-9", "shard-1"], leases["child"].Parents);
        Assert.Empty(leases["orphan"].Parents);
    }

    [Fact]
    public async Task A_queue_read_to_its_end_is_checkpointed_as_shard_end()
    {
        var queue = await CreateAsync("shard-0");
        Assert.NotNull(await Table.TryAcquireAsync(await LeaseAsync(queue), OwnerA, default));

        Assert.True(await Table.TryCheckpointAsync(queue, OwnerA, QueueLease.EndCheckpoint, default));

        var lease = await LeaseAsync(queue);
        Assert.Equal("SHARD_END", lease.Checkpoint);
        Assert.True(lease.IsEnded);
        Assert.Null(lease.CheckpointToken);
    }

    [Fact]
    public async Task Only_an_ended_lease_is_deleted()
    {
        var open = await CreateAsync("open");
        var ended = await CreateAsync("ended");
        Assert.NotNull(await Table.TryAcquireAsync(await LeaseAsync(open), OwnerA, default));
        Assert.NotNull(await Table.TryAcquireAsync(await LeaseAsync(ended), OwnerA, default));
        Assert.True(await Table.TryCheckpointAsync(open, OwnerA, "3", default));
        Assert.True(await Table.TryCheckpointAsync(ended, OwnerA, QueueLease.EndCheckpoint, default));

        // Asked to delete with a stale view (it says ended): the table's own row decides.
        await Table.DeleteAsync((await LeaseAsync(open)) with { Checkpoint = QueueLease.EndCheckpoint }, default);
        await Table.DeleteAsync(await LeaseAsync(ended), default);
        await Table.DeleteAsync(await LeaseAsync(open), default);

        Assert.Equal([open], (await ListAsync()).Select(l => l.Queue));
    }

    [Fact]
    public async Task Listing_returns_only_the_providers_leases()
    {
        var other = EmulatorHost.UniqueName("q");
        foreach (var name in new[] { "a", "b", "c" })
        {
            await Table.CreateIfMissingAsync(new QueueInfo(new QueueId(Provider, name), []), default);
            await Table.CreateIfMissingAsync(new QueueInfo(new QueueId(other, name + "-other"), []), default);
        }

        Assert.Equal(["a", "b", "c"], (await ListAsync()).Select(l => l.Queue.Name).Order());
        Assert.All(await ListAsync(), l => Assert.Equal(Provider, l.Queue.Provider));
        Assert.Equal(3, (await Table.ListAsync(other, default)).Count);
        Assert.Empty(await Table.ListAsync(EmulatorHost.UniqueName("none"), default));
    }

    private async Task<QueueId> CreateAsync(string name)
    {
        var queue = new QueueId(Provider, name);
        await Table.CreateIfMissingAsync(new QueueInfo(queue, []), default);
        return queue;
    }

    private Task<IReadOnlyList<QueueLease>> ListAsync() => Table.ListAsync(Provider, default);

    private async Task<QueueLease> LeaseAsync(QueueId queue) => Assert.Single(await ListAsync(), l => l.Queue == queue);

    /// <summary>Records compare lists by reference; leases are equal when their fields and parents are.</summary>
    private sealed class LeaseComparer : IEqualityComparer<QueueLease>
    {
        public static readonly LeaseComparer Instance = new();

        public bool Equals(QueueLease? x, QueueLease? y) =>
            x is not null && y is not null && x.Queue == y.Queue && x.Owner == y.Owner && x.Counter == y.Counter && x.Checkpoint == y.Checkpoint
            && x.Parents.SequenceEqual(y.Parents);

        public int GetHashCode(QueueLease obj) => obj.Queue.GetHashCode();
    }
}

public sealed class MemoryQueueLeaseTableConformanceTests : QueueLeaseTableConformanceTests
{
    protected override IQueueLeaseTable CreateTable() => new MemoryQueueLeaseTable();
}

[Collection(EmulatorCollection.Name)]
public sealed class DynamoDBQueueLeaseTableConformanceTests(EmulatorHost emulators) : QueueLeaseTableConformanceTests
{
    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();

    protected override IQueueLeaseTable CreateTable() =>
        new DynamoDBQueueLeaseTable(_client, new DynamoDBOptions { TablePrefix = EmulatorHost.UniqueName("lease") + "-" });

    public override Task DisposeAsync()
    {
        _client.Dispose();
        return Task.CompletedTask;
    }
}
