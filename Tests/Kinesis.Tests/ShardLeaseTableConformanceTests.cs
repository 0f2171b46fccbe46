using Amazon.DynamoDBv2;
using Analytics.Aws.DynamoDB;

namespace Analytics.Kinesis.Tests;

/// <summary>
/// What every <see cref="IShardLeaseTable"/> must do, run against the memory table and the
/// DynamoDB table alike, so that the two cannot drift apart.
/// </summary>
public abstract class ShardLeaseTableConformanceTests : IAsyncLifetime
{
    private const string OwnerA = "silo-a";
    private const string OwnerB = "silo-b";

    private IShardLeaseTable? _table;

    protected IShardLeaseTable Table => _table ?? throw new InvalidOperationException("Not initialized.");

    /// <summary>A table of another lease group, in the same store as <see cref="Table"/>.</summary>
    protected abstract IShardLeaseTable CreateTable(string group);

    public async Task InitializeAsync()
    {
        _table = CreateTable(EmulatorHost.UniqueName("g"));
        await _table.InitializeAsync(CancellationToken.None);
    }

    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Create_if_missing_is_idempotent_and_keeps_an_existing_lease()
    {
        await CreateAsync("shard-0");
        Assert.NotNull(await Table.TryAcquireAsync(await LeaseAsync("shard-0"), OwnerA, default));
        Assert.True(await Table.TryCheckpointAsync("shard-0", OwnerA, "17", default));

        await Table.CreateIfMissingAsync(new ShardInfo("shard-0", ["other-parent"]), default);
        await Table.CreateIfMissingAsync(new ShardInfo("shard-0", []), default);

        var lease = Assert.Single(await Table.ListAsync(default));
        Assert.Equal(new ShardLease("shard-0", OwnerA, 1, "17", []), lease, LeaseComparer.Instance);
        Assert.Equal(lease, await Table.ReadAsync("shard-0", default), LeaseComparer.Instance);
        Assert.Null(await Table.ReadAsync("never-created", default));
    }

    [Fact]
    public async Task A_new_lease_is_free_with_counter_zero_and_no_checkpoint()
    {
        await CreateAsync("shard-0");

        var lease = await LeaseAsync("shard-0");

        Assert.Null(lease.Owner);
        Assert.Equal(0, lease.Counter);
        Assert.Null(lease.Checkpoint);
        Assert.Null(lease.Position);
        Assert.False(lease.IsEnded);
    }

    [Fact]
    public async Task Acquiring_with_a_stale_counter_or_owner_fails()
    {
        await CreateAsync("shard-0");
        var observed = await LeaseAsync("shard-0");
        var held = await Table.TryAcquireAsync(observed, OwnerA, default);
        Assert.NotNull(held);
        Assert.Equal(OwnerA, held.Owner);
        Assert.Equal(1, held.Counter);

        Assert.Null(await Table.TryAcquireAsync(observed, OwnerB, default));
        Assert.Null(await Table.TryAcquireAsync(held with { Owner = OwnerB }, OwnerB, default));
        Assert.Null(await Table.TryAcquireAsync(held with { Counter = held.Counter + 1 }, OwnerB, default));
        Assert.Equal(held, await LeaseAsync("shard-0"), LeaseComparer.Instance);
    }

    [Fact]
    public async Task Of_concurrent_acquirers_of_one_observed_lease_exactly_one_wins()
    {
        await CreateAsync("shard-0");
        for (var round = 0; round < 10; round++)
        {
            var observed = await LeaseAsync("shard-0");
            var owners = Enumerable.Range(0, 4).Select(i => $"silo-{round}-{i}").ToList();

            var results = await Task.WhenAll(owners.Select(owner => Task.Run(() => Table.TryAcquireAsync(observed, owner, default))));

            var winner = Assert.Single(results, r => r is not null);
            Assert.Equal(observed.Counter + 1, winner!.Counter);
            Assert.Equal(winner, await LeaseAsync("shard-0"), LeaseComparer.Instance);
        }
    }

    [Fact]
    public async Task Renewal_bumps_the_counter_and_fails_once_the_lease_was_stolen()
    {
        await CreateAsync("shard-0");
        var held = await Table.TryAcquireAsync(await LeaseAsync("shard-0"), OwnerA, default);
        Assert.NotNull(held);

        var renewed = await Table.TryRenewAsync(held, default);
        Assert.NotNull(renewed);
        Assert.Equal(held with { Counter = held.Counter + 1 }, renewed, LeaseComparer.Instance);
        Assert.Null(await Table.TryRenewAsync(held, default)); // the counter moved on

        var stolen = await Table.TryAcquireAsync(renewed, OwnerB, default);
        Assert.NotNull(stolen);
        Assert.Equal(OwnerB, stolen.Owner);
        Assert.Null(await Table.TryRenewAsync(renewed, default));
        Assert.Equal(stolen, await LeaseAsync("shard-0"), LeaseComparer.Instance);
    }

    [Fact]
    public async Task Only_the_owner_moves_the_checkpoint_whatever_the_counter()
    {
        await CreateAsync("shard-0");
        var held = await Table.TryAcquireAsync(await LeaseAsync("shard-0"), OwnerA, default);
        Assert.NotNull(held);
        Assert.NotNull(await Table.TryRenewAsync(held, default));
        var position = new QueuePosition("49590338271490256608559692538361571095921575989136588898", 3 * 65536);

        Assert.True(await Table.TryCheckpointAsync("shard-0", OwnerA, position.ToString(), default));
        Assert.False(await Table.TryCheckpointAsync("shard-0", OwnerB, "99", default));

        var lease = await LeaseAsync("shard-0");
        Assert.Equal(position, lease.Position);
        Assert.Equal(2, lease.Counter); // a checkpoint is no ownership change
    }

    [Fact]
    public async Task A_released_lease_is_free_keeps_its_checkpoint_and_is_acquired_by_another()
    {
        await CreateAsync("shard-0");
        var held = await Table.TryAcquireAsync(await LeaseAsync("shard-0"), OwnerA, default);
        Assert.NotNull(held);
        Assert.True(await Table.TryCheckpointAsync("shard-0", OwnerA, "5", default));

        Assert.True(await Table.TryReleaseAsync(held, default));

        var free = await LeaseAsync("shard-0");
        Assert.Null(free.Owner);
        Assert.Equal(held.Counter + 1, free.Counter);
        Assert.Equal("5", free.Checkpoint); // the next reader goes on from it
        Assert.False(await Table.TryCheckpointAsync("shard-0", OwnerA, "6", default));
        Assert.Null(await Table.TryRenewAsync(held, default));
        Assert.False(await Table.TryReleaseAsync(free, default)); // nobody holds it

        var taken = await Table.TryAcquireAsync(free, OwnerB, default);
        Assert.NotNull(taken);
        Assert.False(await Table.TryReleaseAsync(held, default)); // lost already
    }

    [Fact]
    public async Task Writes_to_a_missing_lease_fail_and_create_nothing()
    {
        var phantom = new ShardLease("never-created", null, 0, null, []);

        Assert.Null(await Table.TryAcquireAsync(phantom, OwnerA, default));
        Assert.Null(await Table.TryRenewAsync(phantom with { Owner = OwnerA }, default));
        Assert.False(await Table.TryReleaseAsync(phantom with { Owner = OwnerA }, default));
        Assert.False(await Table.TryCheckpointAsync("never-created", OwnerA, "1", default));
        await Table.DeleteAsync(phantom with { Checkpoint = ShardLease.EndCheckpoint }, default);

        Assert.Empty(await Table.ListAsync(default));
    }

    [Fact]
    public async Task Parents_round_trip_in_order()
    {
        await Table.CreateIfMissingAsync(new ShardInfo("child", ["shard-9", "shard-1"]), default);
        await Table.CreateIfMissingAsync(new ShardInfo("orphan", []), default);

        var leases = (await Table.ListAsync(default)).ToDictionary(l => l.Shard);

        Assert.Equal(["shard-9", "shard-1"], leases["child"].Parents);
        Assert.Empty(leases["orphan"].Parents);
    }

    [Fact]
    public async Task A_shard_read_to_its_end_is_checkpointed_as_shard_end_and_only_an_ended_lease_is_deleted()
    {
        await CreateAsync("open");
        await CreateAsync("ended");
        Assert.NotNull(await Table.TryAcquireAsync(await LeaseAsync("open"), OwnerA, default));
        Assert.NotNull(await Table.TryAcquireAsync(await LeaseAsync("ended"), OwnerA, default));
        Assert.True(await Table.TryCheckpointAsync("open", OwnerA, "3", default));
        Assert.True(await Table.TryCheckpointAsync("ended", OwnerA, ShardLease.EndCheckpoint, default));
        var ended = await LeaseAsync("ended");
        Assert.True(ended.IsEnded);
        Assert.Null(ended.Position);

        // Asked to delete with a stale view (it says ended): the table's own row decides.
        await Table.DeleteAsync((await LeaseAsync("open")) with { Checkpoint = ShardLease.EndCheckpoint }, default);
        await Table.DeleteAsync(ended, default);

        Assert.Equal(["open"], (await Table.ListAsync(default)).Select(l => l.Shard));
    }

    [Fact]
    public async Task Listing_returns_only_the_groups_leases()
    {
        var other = CreateTable(EmulatorHost.UniqueName("other"));
        await other.InitializeAsync(default);
        foreach (var name in new[] { "a", "b", "c" })
        {
            await Table.CreateIfMissingAsync(new ShardInfo(name, []), default);
            await other.CreateIfMissingAsync(new ShardInfo(name + "-other", []), default);
        }

        Assert.Equal(["a", "b", "c"], (await Table.ListAsync(default)).Select(l => l.Shard).Order());
        Assert.Equal(3, (await other.ListAsync(default)).Count);
        Assert.Null(await other.ReadAsync("a", default));
    }

    private Task CreateAsync(string shard) => Table.CreateIfMissingAsync(new ShardInfo(shard, []), default);

    private async Task<ShardLease> LeaseAsync(string shard) => Assert.Single(await Table.ListAsync(default), l => l.Shard == shard);

    /// <summary>Records compare lists by reference; leases are equal when their fields and parents are.</summary>
    private sealed class LeaseComparer : IEqualityComparer<ShardLease?>
    {
        public static readonly LeaseComparer Instance = new();

        public bool Equals(ShardLease? x, ShardLease? y) =>
            x is not null && y is not null && x.Shard == y.Shard && x.Owner == y.Owner && x.Counter == y.Counter && x.Checkpoint == y.Checkpoint
            && x.Parents.SequenceEqual(y.Parents);

        public int GetHashCode(ShardLease? obj) => obj?.Shard.GetHashCode(StringComparison.Ordinal) ?? 0;
    }
}

public sealed class MemoryShardLeaseTableConformanceTests : ShardLeaseTableConformanceTests
{
    protected override IShardLeaseTable CreateTable(string group) => new MemoryShardLeaseTable();
}

[Collection(EmulatorCollection.Name)]
public sealed class DynamoDBShardLeaseTableConformanceTests(EmulatorHost emulators) : ShardLeaseTableConformanceTests
{
    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();

    // One table for the class's tests, as in production: groups keep them apart.
    private static readonly DynamoDBOptions Options = new() { TablePrefix = EmulatorHost.UniqueName("lease") + "-" };

    protected override IShardLeaseTable CreateTable(string group) => new DynamoDBShardLeaseTable(_client, Options, group);

    public override Task DisposeAsync()
    {
        _client.Dispose();
        return Task.CompletedTask;
    }
}
