using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Analytics.Aws.DynamoDB;
using Analytics.Runtime.Aws.DynamoDB;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Aws.Tests;

/// <summary>
/// What every <see cref="IMembershipTable"/> must do, run against the memory table of test clusters and
/// the DynamoDB table of production alike, so that the two cannot drift apart. A failed write may or may
/// not advance the version (DynamoDB's does when its row condition fails after the version was claimed);
/// the tests check only what the interface promises: rows unchanged, and a fresh read lets one write again.
/// </summary>
public abstract class MembershipTableConformanceTests : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new DateTimeOffset(2025, 3, 1, 14, 0, 0, TimeSpan.FromHours(2)).AddTicks(1_234_567);

    private IMembershipTable? _table;

    protected IMembershipTable Table => _table ?? throw new InvalidOperationException("Not initialized.");

    // Each test has its own cluster, in case an implementation shares its table between tests.
    protected string ClusterId { get; } = EmulatorHost.UniqueName("cluster");

    protected abstract IMembershipTable CreateTable(string clusterId);

    public async Task InitializeAsync()
    {
        _table = CreateTable(ClusterId);
        await _table.InitializeAsync(CancellationToken.None);
    }

    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task An_empty_table_has_version_zero_and_no_rows()
    {
        var snapshot = await ReadAsync();

        Assert.Equal(0, snapshot.Version.Version);
        Assert.Empty(snapshot.Entries);
    }

    [Fact]
    public async Task An_inserted_row_reads_back_with_every_field_and_so_do_its_updates()
    {
        var entry = Entry(new SiloAddress("ip-10-0-0-7.ec2.internal", 11111, 638_765_432_109_876_543)) with
        {
            SiloName = "silo-a",
            Zone = "eu-west-1b",
            IAmAliveTime = T0.AddSeconds(1.5),
            Endpoints = new Dictionary<string, string> { ["http"] = "http://10.0.0.7:8080", ["gateway"] = "10.0.0.7:30000" },
            Suspicions = [new SuspicionVote(Silo(2), T0.AddSeconds(9)), new SuspicionVote(Silo(3), T0.AddSeconds(10).ToOffset(TimeSpan.Zero))],
        };

        Assert.True(await Table.InsertRowAsync(entry, (await ReadAsync()).Version.Next(), default));

        var snapshot = await ReadAsync();
        Assert.Equal(1, snapshot.Version.Version);
        var (read, etag) = Assert.Single(snapshot.Entries);
        AssertSameEntry(entry, read);
        Assert.False(string.IsNullOrEmpty(etag));

        // Through every later status, with the optional fields cleared on the way.
        var previous = snapshot;
        foreach (var status in new[] { SiloStatus.Active, SiloStatus.ShuttingDown, SiloStatus.Stopping, SiloStatus.Dead })
        {
            var changed = entry with { Status = status, Zone = null, Endpoints = new Dictionary<string, string>(), Suspicions = [], IAmAliveTime = T0.AddMinutes((int)status) };
            Assert.True(await Table.UpdateRowAsync(changed, Assert.Single(previous.Entries).ETag, previous.Version.Next(), default));
            var next = await ReadAsync();
            Assert.Equal(previous.Version.Version + 1, next.Version.Version);
            Assert.NotEqual(Assert.Single(previous.Entries).ETag, Assert.Single(next.Entries).ETag);
            AssertSameEntry(changed, Assert.Single(next.Entries).Entry);
            previous = next;
        }
    }

    [Fact]
    public async Task Inserting_an_existing_row_fails_and_keeps_the_row()
    {
        var a = Entry(Silo(1));
        await InsertAsync(a);
        var before = await RowAsync(a.Silo);

        Assert.False(await Table.InsertRowAsync(a with { Status = SiloStatus.Active, SiloName = "impostor" }, (await ReadAsync()).Version.Next(), default));

        var after = await RowAsync(a.Silo);
        Assert.Equal(before.ETag, after.ETag);
        AssertSameEntry(a, after.Entry);
        // A fresh read still lets the next change through.
        Assert.True(await Table.UpdateRowAsync(a with { Status = SiloStatus.Active }, after.ETag, (await ReadAsync()).Version.Next(), default));
    }

    [Fact]
    public async Task Writes_with_a_stale_or_made_up_version_fail_and_change_nothing()
    {
        var a = Entry(Silo(1));
        await InsertAsync(a);
        var stale = await ReadAsync();
        var aETag = Assert.Single(stale.Entries).ETag;
        await InsertAsync(Entry(Silo(2)));
        var before = await ReadAsync();

        Assert.False(await Table.InsertRowAsync(Entry(Silo(3)), stale.Version.Next(), default));
        Assert.False(await Table.UpdateRowAsync(a with { Status = SiloStatus.Active }, aETag, stale.Version.Next(), default));
        // A version that skips one, and one whose ETag was never read.
        Assert.False(await Table.UpdateRowAsync(a with { Status = SiloStatus.Active }, aETag, before.Version.Next().Next(), default));
        Assert.False(await Table.InsertRowAsync(Entry(Silo(3)), before.Version.Next() with { ETag = "made-up" }, default));

        AssertSameSnapshot(before, await ReadAsync());
    }

    [Fact]
    public async Task An_update_with_a_stale_etag_or_of_a_missing_row_fails()
    {
        var a = Entry(Silo(1));
        await InsertAsync(a);
        var first = await RowAsync(a.Silo);
        Assert.True(await Table.UpdateRowAsync(a with { Status = SiloStatus.Active }, first.ETag, (await ReadAsync()).Version.Next(), default));

        Assert.False(await Table.UpdateRowAsync(a with { Status = SiloStatus.Dead }, first.ETag, (await ReadAsync()).Version.Next(), default));
        var current = await RowAsync(a.Silo);
        Assert.False(await Table.UpdateRowAsync(Entry(Silo(9)), current.ETag, (await ReadAsync()).Version.Next(), default));

        var snapshot = await ReadAsync();
        var (entry, etag) = Assert.Single(snapshot.Entries);
        Assert.Equal(SiloStatus.Active, entry.Status);
        Assert.Equal(current.ETag, etag);
    }

    [Fact]
    public async Task Of_concurrent_writers_from_one_version_exactly_one_wins()
    {
        var silos = new[] { Silo(1), Silo(2), Silo(3) };
        await InsertAsync([.. silos.Select(s => Entry(s))]);
        for (var round = 0; round < 6; round++)
        {
            var snapshot = await ReadAsync();
            var prefix = $"r{round}-";
            // Updates of the same row and of other rows, and inserts, all from the same read.
            var writers = Enumerable.Range(0, 8).Select(i => Task.Run(() => i % 4 == 3
                ? Table.InsertRowAsync(Entry(Silo(100 + (round * 10) + i), name: prefix + i), snapshot.Version.Next(), default)
                : Table.UpdateRowAsync(
                    Entry(silos[i % 3], SiloStatus.Active, prefix + i),
                    snapshot.Entries.Single(e => e.Entry.Silo == silos[i % 3]).ETag,
                    snapshot.Version.Next(),
                    default)));

            var results = await Task.WhenAll(writers);

            var winner = Assert.Single(Enumerable.Range(0, results.Length), i => results[i]);
            var after = await ReadAsync();
            Assert.Equal(snapshot.Version.Version + 1, after.Version.Version);
            var changed = Assert.Single(after.Entries, e => e.Entry.SiloName.StartsWith(prefix, StringComparison.Ordinal));
            Assert.Equal(prefix + winner, changed.Entry.SiloName);
        }
    }

    [Fact]
    public async Task A_heartbeat_changes_only_the_heartbeat_and_not_the_version_or_etag()
    {
        var a = Entry(Silo(1)) with { Zone = "z", Endpoints = new Dictionary<string, string> { ["http"] = "h" } };
        await InsertAsync(a, Entry(Silo(2)));
        var before = await ReadAsync();

        await Table.UpdateIAmAliveAsync(a.Silo, T0.AddSeconds(42), default);
        await Table.UpdateIAmAliveAsync(Silo(99), T0.AddSeconds(42), default); // unknown: ignored

        var after = await ReadAsync();
        Assert.Equal(before.Version, after.Version);
        Assert.Equal(2, after.Entries.Count);
        var (entry, etag) = Assert.Single(after.Entries, e => e.Entry.Silo == a.Silo);
        Assert.Equal(Assert.Single(before.Entries, e => e.Entry.Silo == a.Silo).ETag, etag);
        AssertSameEntry(a with { IAmAliveTime = T0.AddSeconds(42) }, entry);
        Assert.Equal(T0, Assert.Single(after.Entries, e => e.Entry.Silo == Silo(2)).Entry.IAmAliveTime);
        // The ETag read before the heartbeat is still good.
        Assert.True(await Table.UpdateRowAsync(entry with { Status = SiloStatus.Active }, etag, after.Version.Next(), default));
    }

    [Fact]
    public async Task Two_clusters_in_one_table_do_not_see_each_others_rows_or_versions()
    {
        var other = CreateTable(EmulatorHost.UniqueName("cluster"));
        await other.InitializeAsync(default);

        Assert.True(await Table.InsertRowAsync(Entry(Silo(1)), (await Table.ReadAllAsync(default)).Version.Next(), default));
        foreach (var silo in new[] { Silo(2), Silo(3) })
        {
            Assert.True(await other.InsertRowAsync(Entry(silo), (await other.ReadAllAsync(default)).Version.Next(), default));
        }

        await other.UpdateIAmAliveAsync(Silo(1), T0.AddHours(1), default);

        var mine = await Table.ReadAllAsync(default);
        var theirs = await other.ReadAllAsync(default);
        Assert.Equal(1, mine.Version.Version);
        Assert.Equal(Silo(1), Assert.Single(mine.Entries).Entry.Silo);
        Assert.Equal(T0, Assert.Single(mine.Entries).Entry.IAmAliveTime);
        Assert.Equal(2, theirs.Version.Version);
        Assert.Equal([Silo(2), Silo(3)], theirs.Entries.Select(e => e.Entry.Silo).OrderBy(s => s.Host));
    }

    [Fact]
    public async Task Cleanup_deletes_only_dead_rows_last_seen_before_the_date_and_later_writes_still_work()
    {
        var cutoff = T0.AddDays(1);
        var recent = cutoff.AddMinutes(1);
        await InsertAsync(
            Entry(Silo(1)),
            Entry(Silo(2)),
            Entry(Silo(3), SiloStatus.Active),
            Entry(Silo(4), SiloStatus.ShuttingDown),
            Entry(Silo(5), SiloStatus.Dead) with { IAmAliveTime = recent },
            Entry(Silo(6), SiloStatus.Dead) with { StartTime = recent }, // the later of the two counts
            Entry(Silo(7), SiloStatus.Dead) with { IAmAliveTime = cutoff }); // not before: kept
        // Declared dead the way the cluster does it, the last change of all.
        await SetStatusAsync(Silo(1), SiloStatus.Dead);
        await SetStatusAsync(Silo(2), SiloStatus.Dead);
        var before = await ReadAsync();

        Assert.Equal(2, await Table.CleanupDefunctSiloEntriesAsync(cutoff, default));

        var after = await ReadAsync();
        Assert.Equal(before.Version.Version, after.Version.Version);
        Assert.Equal(
            before.Entries.Where(e => e.Entry.Silo != Silo(1) && e.Entry.Silo != Silo(2)).Select(e => (e.Entry.Silo, e.Entry.Status, e.ETag)).OrderBy(e => e.Silo.Host),
            after.Entries.Select(e => (e.Entry.Silo, e.Entry.Status, e.ETag)).OrderBy(e => e.Silo.Host));
        Assert.Equal(0, await Table.CleanupDefunctSiloEntriesAsync(cutoff, default));

        // A snapshot read before the cleanup is still good for one write: the cleanup moved no version.
        Assert.True(await Table.UpdateRowAsync(Entry(Silo(3), SiloStatus.ShuttingDown), before.Entries.Single(e => e.Entry.Silo == Silo(3)).ETag, before.Version.Next(), default));
        await InsertAsync(Entry(Silo(8)));
        await SetStatusAsync(Silo(5), SiloStatus.Dead, "rewritten");
        var final = await ReadAsync();
        Assert.Equal(before.Version.Version + 3, final.Version.Version);
        Assert.Equal([3, 4, 5, 6, 7, 8], final.Entries.Select(e => int.Parse(e.Entry.Silo.Host[7..], System.Globalization.CultureInfo.InvariantCulture)).Order());
        Assert.Equal("rewritten", (await RowAsync(Silo(5))).Entry.SiloName);
        // And the conditions still hold: the row exists, so it cannot be inserted again.
        Assert.False(await Table.InsertRowAsync(Entry(Silo(8)), final.Version.Next(), default));
    }

    [Fact]
    public async Task Concurrent_cleanups_delete_each_defunct_row_exactly_once()
    {
        var dead = Enumerable.Range(1, 6).Select(n => Entry(Silo(n), SiloStatus.Dead)).ToArray();
        await InsertAsync([Entry(Silo(10), SiloStatus.Active), .. dead]);

        var counts = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => Table.CleanupDefunctSiloEntriesAsync(T0.AddDays(1), default))));

        Assert.Equal(dead.Length, counts.Sum());
        Assert.Equal(Silo(10), Assert.Single((await ReadAsync()).Entries).Entry.Silo);
        // The last insert was of a row now deleted: the next writer still gets through, and only real rows read back.
        await InsertAsync(Entry(Silo(11)));
        Assert.Equal([Silo(10), Silo(11)], (await ReadAsync()).Entries.Select(e => e.Entry.Silo).OrderBy(s => s.Host));
    }

    [Fact]
    public async Task Cleanup_never_touches_another_clusters_rows()
    {
        var other = CreateTable(EmulatorHost.UniqueName("cluster"));
        await other.InitializeAsync(default);
        await InsertAsync(Entry(Silo(1), SiloStatus.Dead));
        Assert.True(await other.InsertRowAsync(Entry(Silo(2), SiloStatus.Dead), (await other.ReadAllAsync(default)).Version.Next(), default));

        Assert.Equal(1, await Table.CleanupDefunctSiloEntriesAsync(T0.AddDays(1), default));

        Assert.Equal(Silo(2), Assert.Single((await other.ReadAllAsync(default)).Entries).Entry.Silo);
        Assert.Equal(1, (await other.ReadAllAsync(default)).Version.Version);
        Assert.Equal(1, await other.CleanupDefunctSiloEntriesAsync(T0.AddDays(1), default));
    }

    protected static SiloAddress Silo(int n) => new($"10.0.0.{n}", 11111, 638_700_000_000_000_000 + n);

    protected static MembershipEntry Entry(SiloAddress silo, SiloStatus status = SiloStatus.Joining, string? name = null) => new()
    {
        Silo = silo,
        Status = status,
        SiloName = name ?? $"silo-{silo.Host}",
        StartTime = T0,
        IAmAliveTime = T0,
    };

    protected Task<MembershipTableSnapshot> ReadAsync() => Table.ReadAllAsync(default);

    protected async Task<(MembershipEntry Entry, string ETag)> RowAsync(SiloAddress silo) =>
        Assert.Single((await ReadAsync()).Entries, e => e.Entry.Silo == silo);

    /// <summary>Inserts each entry from a fresh read, as a joining silo does.</summary>
    protected async Task InsertAsync(params MembershipEntry[] entries)
    {
        foreach (var entry in entries)
        {
            Assert.True(await Table.InsertRowAsync(entry, (await ReadAsync()).Version.Next(), default));
        }
    }

    /// <summary>Rewrites a row from a fresh read, as a silo changing its status (or declaring another dead) does.</summary>
    protected async Task SetStatusAsync(SiloAddress silo, SiloStatus status, string? name = null)
    {
        var snapshot = await ReadAsync();
        var (entry, etag) = snapshot.Entries.Single(e => e.Entry.Silo == silo);
        Assert.True(await Table.UpdateRowAsync(entry with { Status = status, SiloName = name ?? entry.SiloName }, etag, snapshot.Version.Next(), default));
    }

    /// <summary>Records compare their dictionary and list by reference: compare field by field.</summary>
    protected static void AssertSameEntry(MembershipEntry expected, MembershipEntry actual)
    {
        Assert.Equal(expected.Silo, actual.Silo);
        Assert.Equal(expected.Silo.Generation, actual.Silo.Generation);
        Assert.Equal(expected.Status, actual.Status);
        Assert.Equal(expected.SiloName, actual.SiloName);
        Assert.Equal(expected.Zone, actual.Zone);
        Assert.Equal(expected.StartTime, actual.StartTime);
        Assert.Equal(expected.StartTime.Offset, actual.StartTime.Offset);
        Assert.Equal(expected.IAmAliveTime, actual.IAmAliveTime);
        Assert.Equal(expected.Endpoints.OrderBy(e => e.Key), actual.Endpoints.OrderBy(e => e.Key));
        Assert.Equal(expected.Suspicions, actual.Suspicions);
    }

    protected static void AssertSameSnapshot(MembershipTableSnapshot expected, MembershipTableSnapshot actual)
    {
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(
            expected.Entries.Select(e => (e.Entry.Silo, e.Entry.Status, e.Entry.SiloName, e.ETag)).OrderBy(e => e.Silo.Host),
            actual.Entries.Select(e => (e.Entry.Silo, e.Entry.Status, e.Entry.SiloName, e.ETag)).OrderBy(e => e.Silo.Host));
    }
}

public sealed class InMemoryMembershipTableConformanceTests : MembershipTableConformanceTests
{
    // The memory table has no cluster id: one instance is one cluster.
    private readonly Dictionary<string, InMemoryMembershipTable> _tables = [];

    protected override IMembershipTable CreateTable(string clusterId) =>
        _tables.TryGetValue(clusterId, out var table) ? table : _tables[clusterId] = new InMemoryMembershipTable();
}
