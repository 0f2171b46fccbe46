using System.Net;
using Analytics.Aws.Tests;
using Orleans;
using Orleans.Runtime;

namespace Analytics.Clustering.Tests;

/// <summary>
/// What every <see cref="IMembershipTable"/> must do for Orleans 10, run against the in-memory reference and
/// the DynamoDB table alike. A failed write may or may not advance the version (DynamoDB's does when its row
/// condition fails after the version was claimed); the tests check only what the interface promises: rows
/// unchanged, and a fresh read lets one write again.
/// </summary>
public abstract partial class MembershipTableConformanceTests : IAsyncLifetime
{
    protected static readonly DateTime T0 = new DateTime(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc).AddTicks(1_234_567);

    private IMembershipTable? _table;

    protected IMembershipTable Table => _table ?? throw new InvalidOperationException("Not initialized.");

    // Each test has its own cluster, in case an implementation shares its table between tests.
    protected string ClusterId { get; } = EmulatorHost.UniqueName("cluster");

    protected abstract IMembershipTable CreateTable(string clusterId);

    public async Task InitializeAsync()
    {
        _table = CreateTable(ClusterId);
        await _table.InitializeMembershipTableAsync(true, default);
    }

    public virtual Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task An_empty_table_has_version_zero_and_no_rows()
    {
        var snapshot = await Table.ReadAllAsync(default);

        Assert.Equal(0, snapshot.Version.Version);
        Assert.Empty(snapshot.Members);
    }

    [Fact]
    public async Task An_inserted_row_reads_back_with_every_field_and_so_do_its_updates()
    {
        var entry = Entry(SiloAddress.New(IPAddress.Parse("10.0.0.7"), 11111, 87_654_321));
        entry.HostName = "ip-10-0-0-7.ec2.internal";
        entry.SiloName = "silo-a";
        entry.RoleName = "analytics";
        entry.UpdateZone = 3;
        entry.FaultZone = 2;
        entry.ProxyPort = 30000;
        entry.IAmAliveTime = T0.AddSeconds(1.5);
        entry.SuspectTimes = [Tuple.Create(Silo(2), T0.AddSeconds(9)), Tuple.Create(Silo(3), T0.AddSeconds(10))];

        Assert.True(await Table.InsertRowAsync(entry, (await Table.ReadAllAsync(default)).Version.Next(), default));

        var snapshot = await Table.ReadAllAsync(default);
        Assert.Equal(1, snapshot.Version.Version);
        var (read, etag) = Assert.Single(snapshot.Members);
        AssertSameEntry(entry, read);
        Assert.False(string.IsNullOrEmpty(etag));

        // Through every later status, with the optional fields cleared on the way.
        var previous = snapshot;
        foreach (var status in new[] { SiloStatus.Active, SiloStatus.ShuttingDown, SiloStatus.Stopping, SiloStatus.Dead })
        {
            var changed = With(entry, status);
            // Unset and empty are different strings to Orleans; both must come back as they went.
            changed.RoleName = status == SiloStatus.Stopping ? "" : null;
            changed.SuspectTimes = status == SiloStatus.Dead ? [] : null;
            changed.ProxyPort = 0;
            changed.IAmAliveTime = T0.AddMinutes((int)status);
            Assert.True(await Table.UpdateRowAsync(changed, Assert.Single(previous.Members).Item2, previous.Version.Next(), default));
            var next = await Table.ReadAllAsync(default);
            Assert.Equal(previous.Version.Version + 1, next.Version.Version);
            Assert.NotEqual(Assert.Single(previous.Members).Item2, Assert.Single(next.Members).Item2);
            AssertSameEntry(changed, Assert.Single(next.Members).Item1);
            previous = next;
        }
    }

    [Fact]
    public async Task Inserting_an_existing_row_fails_and_keeps_the_row()
    {
        var a = Entry(Silo(1));
        await InsertAsync(a);
        var before = await RowAsync(a.SiloAddress);
        var impostor = With(a, SiloStatus.Active);
        impostor.SiloName = "impostor";

        Assert.False(await Table.InsertRowAsync(impostor, (await Table.ReadAllAsync(default)).Version.Next(), default));

        var after = await RowAsync(a.SiloAddress);
        Assert.Equal(before.ETag, after.ETag);
        AssertSameEntry(a, after.Entry);
        // A fresh read still lets the next change through.
        Assert.True(await Table.UpdateRowAsync(With(a, SiloStatus.Active), after.ETag, (await Table.ReadAllAsync(default)).Version.Next(), default));
    }

    [Fact]
    public async Task Writes_with_a_stale_or_made_up_version_fail_and_change_nothing()
    {
        var a = Entry(Silo(1));
        await InsertAsync(a);
        var stale = await Table.ReadAllAsync(default);
        var aETag = Assert.Single(stale.Members).Item2;
        await InsertAsync(Entry(Silo(2)));
        var before = await Table.ReadAllAsync(default);

        Assert.False(await Table.InsertRowAsync(Entry(Silo(3)), stale.Version.Next(), default));
        Assert.False(await Table.UpdateRowAsync(With(a, SiloStatus.Active), aETag, stale.Version.Next(), default));
        // A version that skips one, and one whose ETag was never read.
        Assert.False(await Table.UpdateRowAsync(With(a, SiloStatus.Active), aETag, before.Version.Next().Next(), default));
        Assert.False(await Table.InsertRowAsync(Entry(Silo(3)), new TableVersion(before.Version.Version + 1, "made-up"), default));

        AssertSameSnapshot(before, await Table.ReadAllAsync(default));
    }

    [Fact]
    public async Task An_update_with_a_stale_etag_or_of_a_missing_row_fails()
    {
        var a = Entry(Silo(1));
        await InsertAsync(a);
        var first = await RowAsync(a.SiloAddress);
        Assert.True(await Table.UpdateRowAsync(With(a, SiloStatus.Active), first.ETag, (await Table.ReadAllAsync(default)).Version.Next(), default));

        Assert.False(await Table.UpdateRowAsync(With(a, SiloStatus.Dead), first.ETag, (await Table.ReadAllAsync(default)).Version.Next(), default));
        var current = await RowAsync(a.SiloAddress);
        Assert.False(await Table.UpdateRowAsync(Entry(Silo(9)), current.ETag, (await Table.ReadAllAsync(default)).Version.Next(), default));

        var (entry, etag) = Assert.Single((await Table.ReadAllAsync(default)).Members);
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
            var snapshot = await Table.ReadAllAsync(default);
            var prefix = $"r{round}-";
            // Updates of the same row and of other rows, and inserts, all from the same read.
            var writers = Enumerable.Range(0, 8).Select(i => Task.Run(() => i % 4 == 3
                ? Table.InsertRowAsync(Entry(Silo(100 + (round * 10) + i), name: prefix + i), snapshot.Version.Next(), default)
                : Table.UpdateRowAsync(
                    Entry(silos[i % 3], SiloStatus.Active, prefix + i),
                    snapshot.Members.Single(e => e.Item1.SiloAddress.Equals(silos[i % 3])).Item2,
                    snapshot.Version.Next(), default)));

            var results = await Task.WhenAll(writers);

            var winner = Assert.Single(Enumerable.Range(0, results.Length), i => results[i]);
            var after = await Table.ReadAllAsync(default);
            Assert.Equal(snapshot.Version.Version + 1, after.Version.Version);
            var changed = Assert.Single(after.Members, e => e.Item1.SiloName.StartsWith(prefix, StringComparison.Ordinal));
            Assert.Equal(prefix + winner, changed.Item1.SiloName);
        }
    }

    [Fact]
    public async Task A_heartbeat_changes_only_the_heartbeat_and_leaves_the_version_and_the_etag_usable()
    {
        var a = Entry(Silo(1));
        a.RoleName = "r";
        a.ProxyPort = 30001;
        await InsertAsync(a, Entry(Silo(2)));
        var before = await Table.ReadAllAsync(default);
        var beat = With(a, a.Status);
        beat.IAmAliveTime = T0.AddSeconds(42);

        await Table.UpdateIAmAliveAsync(beat, default);
        var unknown = Entry(Silo(99));
        unknown.IAmAliveTime = T0.AddSeconds(42);
        await Table.UpdateIAmAliveAsync(unknown, default); // no such row: ignored

        var after = await Table.ReadAllAsync(default);
        Assert.Equal(before.Version, after.Version);
        Assert.Equal(2, after.Members.Count);
        var (entry, _) = Assert.Single(after.Members, e => e.Item1.SiloAddress.Equals(a.SiloAddress));
        AssertSameEntry(beat, entry);
        Assert.Equal(T0, Assert.Single(after.Members, e => e.Item1.SiloAddress.Equals(Silo(2))).Item1.IAmAliveTime);
        // Orleans 10.4 requires it: the ETag and version read before the heartbeat are still good.
        var etagBefore = Assert.Single(before.Members, e => e.Item1.SiloAddress.Equals(a.SiloAddress)).Item2;
        Assert.True(await Table.UpdateRowAsync(With(entry, SiloStatus.Active), etagBefore, before.Version.Next(), default));
    }

    [Fact]
    public async Task Two_clusters_in_one_table_do_not_see_each_others_rows_or_versions()
    {
        var other = CreateTable(EmulatorHost.UniqueName("cluster"));
        await other.InitializeMembershipTableAsync(true, default);

        Assert.True(await Table.InsertRowAsync(Entry(Silo(1)), (await Table.ReadAllAsync(default)).Version.Next(), default));
        foreach (var silo in new[] { Silo(2), Silo(3) })
        {
            Assert.True(await other.InsertRowAsync(Entry(silo), (await other.ReadAllAsync(default)).Version.Next(), default));
        }

        var beat = Entry(Silo(1));
        beat.IAmAliveTime = T0.AddHours(1);
        await other.UpdateIAmAliveAsync(beat, default);

        var mine = await Table.ReadAllAsync(default);
        var theirs = await other.ReadAllAsync(default);
        Assert.Equal(1, mine.Version.Version);
        Assert.Equal(Silo(1), Assert.Single(mine.Members).Item1.SiloAddress);
        Assert.Equal(T0, Assert.Single(mine.Members).Item1.IAmAliveTime);
        Assert.Equal(2, theirs.Version.Version);
        Assert.Equal([Silo(2), Silo(3)], theirs.Members.Select(e => e.Item1.SiloAddress).OrderBy(s => s.ToString()));
    }

    [Fact]
    public async Task ReadRow_returns_one_row_with_the_version_a_full_read_gives()
    {
        await InsertAsync(Entry(Silo(1)), Entry(Silo(2)));
        var all = await Table.ReadAllAsync(default);

        var row = await Table.ReadRowAsync(Silo(2), default);
        var missing = await Table.ReadRowAsync(Silo(9), default);

        Assert.Equal(all.Version, row.Version);
        var (entry, etag) = Assert.Single(row.Members);
        AssertSameEntry(Entry(Silo(2)), entry);
        Assert.Equal(all.Members.Single(e => e.Item1.SiloAddress.Equals(Silo(2))).Item2, etag);
        Assert.Equal(all.Version, missing.Version);
        Assert.Empty(missing.Members);
        // Its version is as good for writing as a full read's.
        Assert.True(await Table.UpdateRowAsync(Entry(Silo(2), SiloStatus.Active), etag, row.Version.Next(), default));
    }

    [Fact]
    public async Task Cleanup_deletes_only_stale_rows_that_are_not_active_and_later_writes_still_work()
    {
        var cutoff = T0.AddDays(1);
        var recent = cutoff.AddMinutes(1);
        var votedRecently = Entry(Silo(8), SiloStatus.Dead);
        votedRecently.SuspectTimes = [Tuple.Create(Silo(3), recent)]; // declared dead recently: kept
        await InsertAsync(
            Entry(Silo(1)),
            Entry(Silo(2), SiloStatus.ShuttingDown),
            Entry(Silo(3), SiloStatus.Active), // however old: Active is never defunct
            With(Entry(Silo(5), SiloStatus.Dead), iAmAlive: recent),
            With(Entry(Silo(6), SiloStatus.Dead), start: recent), // the later of the two counts
            With(Entry(Silo(7), SiloStatus.Dead), iAmAlive: cutoff), // not before: kept
            votedRecently,
            Entry(Silo(4)));
        // Declared dead the way the cluster does it, the last change of all.
        await SetStatusAsync(Silo(4), SiloStatus.Dead);
        var before = await Table.ReadAllAsync(default);

        await Table.CleanupDefunctSiloEntriesAsync(cutoff, default);

        var after = await Table.ReadAllAsync(default);
        Assert.Equal(before.Version.Version, after.Version.Version);
        int[] kept = [3, 5, 6, 7, 8];
        Assert.Equal(
            before.Members.Where(e => kept.Contains(Number(e.Item1.SiloAddress))).Select(e => (Number(e.Item1.SiloAddress), e.Item1.Status, e.Item2)).Order(),
            after.Members.Select(e => (Number(e.Item1.SiloAddress), e.Item1.Status, e.Item2)).Order());
        await Table.CleanupDefunctSiloEntriesAsync(cutoff, default);
        Assert.Equal(kept, (await Table.ReadAllAsync(default)).Members.Select(e => Number(e.Item1.SiloAddress)).Order());

        // A snapshot read before the cleanup is still good for one write: the cleanup moved no version.
        Assert.True(await Table.UpdateRowAsync(Entry(Silo(3), SiloStatus.ShuttingDown), before.Members.Single(e => e.Item1.SiloAddress.Equals(Silo(3))).Item2, before.Version.Next(), default));
        await InsertAsync(Entry(Silo(1), name: "back"));
        var final = await Table.ReadAllAsync(default);
        Assert.Equal(before.Version.Version + 2, final.Version.Version);
        Assert.Equal("back", (await RowAsync(Silo(1))).Entry.SiloName);
        // And the conditions still hold: the row exists, so it cannot be inserted again.
        Assert.False(await Table.InsertRowAsync(Entry(Silo(1)), final.Version.Next(), default));
    }

    [Fact]
    public async Task Concurrent_cleanups_delete_every_defunct_row_and_nothing_else()
    {
        var dead = Enumerable.Range(1, 6).Select(n => Entry(Silo(n), SiloStatus.Dead)).ToArray();
        await InsertAsync([Entry(Silo(10), SiloStatus.Active), .. dead]);

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => Table.CleanupDefunctSiloEntriesAsync(T0.AddDays(1), default))));

        Assert.Equal(Silo(10), Assert.Single((await Table.ReadAllAsync(default)).Members).Item1.SiloAddress);
        // The last insert was of a row now deleted: the next writer still gets through, and only real rows read back.
        await InsertAsync(Entry(Silo(11)));
        Assert.Equal([10, 11], (await Table.ReadAllAsync(default)).Members.Select(e => Number(e.Item1.SiloAddress)).Order());
    }

    [Fact]
    public async Task Cleanup_never_touches_another_clusters_rows()
    {
        var other = CreateTable(EmulatorHost.UniqueName("cluster"));
        await other.InitializeMembershipTableAsync(true, default);
        await InsertAsync(Entry(Silo(1), SiloStatus.Dead));
        Assert.True(await other.InsertRowAsync(Entry(Silo(2), SiloStatus.Dead), (await other.ReadAllAsync(default)).Version.Next(), default));

        await Table.CleanupDefunctSiloEntriesAsync(T0.AddDays(1), default);

        Assert.Empty((await Table.ReadAllAsync(default)).Members);
        var theirs = await other.ReadAllAsync(default);
        Assert.Equal(Silo(2), Assert.Single(theirs.Members).Item1.SiloAddress);
        Assert.Equal(1, theirs.Version.Version);
    }

    [Fact]
    public async Task Deleting_a_clusters_entries_empties_only_that_cluster_which_starts_again_at_version_zero()
    {
        var otherId = EmulatorHost.UniqueName("cluster");
        var other = CreateTable(otherId);
        await other.InitializeMembershipTableAsync(true, default);
        await InsertAsync(Entry(Silo(1)), Entry(Silo(2), SiloStatus.Active));
        Assert.True(await other.InsertRowAsync(Entry(Silo(3)), (await other.ReadAllAsync(default)).Version.Next(), default));

        // Through this cluster's table, the other cluster's rows: the argument names the cluster.
        await Table.DeleteMembershipTableEntriesAsync(otherId, default);

        var theirs = await other.ReadAllAsync(default);
        Assert.Equal(0, theirs.Version.Version);
        Assert.Empty(theirs.Members);
        Assert.Equal(2, (await Table.ReadAllAsync(default)).Members.Count);
        Assert.True(await other.InsertRowAsync(Entry(Silo(3)), theirs.Version.Next(), default));
        await Table.DeleteMembershipTableEntriesAsync(ClusterId, default);
        Assert.Empty((await Table.ReadAllAsync(default)).Members);
    }
}

public sealed class ReferenceMembershipTableConformanceTests : MembershipTableConformanceTests
{
    private readonly ReferenceMembershipTable.Store _store = new();

    protected override IMembershipTable CreateTable(string clusterId) => new ReferenceMembershipTable(_store, clusterId);
}
