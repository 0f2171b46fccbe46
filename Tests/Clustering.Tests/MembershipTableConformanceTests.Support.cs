using Orleans;
using Orleans.Runtime;
using System.Net;

namespace Analytics.Clustering.Tests;

/// <summary>Entries, reads and comparisons the conformance tests share.</summary>
public abstract partial class MembershipTableConformanceTests
{
    protected static SiloAddress Silo(int n) => SiloAddress.New(IPAddress.Parse($"10.0.0.{n}"), 11111, 100_000 + n);

    protected static int Number(SiloAddress silo) => silo.Endpoint.Address.GetAddressBytes()[3];

    protected static MembershipEntry Entry(SiloAddress silo, SiloStatus status = SiloStatus.Joining, string? name = null) => new()
    {
        SiloAddress = silo,
        Status = status,
        HostName = $"host-{Number(silo)}",
        SiloName = name ?? $"silo-{Number(silo)}",
        StartTime = T0,
        IAmAliveTime = T0,
    };

    /// <summary>A copy with another status (entries are mutable, and the table must not share them).</summary>
    protected static MembershipEntry With(MembershipEntry entry, SiloStatus status, DateTime? start = null, DateTime? iAmAlive = null)
    {
        var copy = ReferenceMembershipTable.Clone(entry);
        copy.Status = status;
        copy.StartTime = start ?? copy.StartTime;
        copy.IAmAliveTime = iAmAlive ?? copy.IAmAliveTime;
        return copy;
    }

    protected static MembershipEntry With(MembershipEntry entry, DateTime? start = null, DateTime? iAmAlive = null) => With(entry, entry.Status, start, iAmAlive);

    protected async Task<(MembershipEntry Entry, string ETag)> RowAsync(SiloAddress silo)
    {
        var (entry, etag) = Assert.Single((await Table.ReadAllAsync(default)).Members, e => e.Item1.SiloAddress.Equals(silo));
        return (entry, etag);
    }

    /// <summary>Inserts each entry from a fresh read, as a joining silo does.</summary>
    protected async Task InsertAsync(params MembershipEntry[] entries)
    {
        foreach (var entry in entries)
        {
            Assert.True(await Table.InsertRowAsync(entry, (await Table.ReadAllAsync(default)).Version.Next(), default));
        }
    }

    /// <summary>Rewrites a row from a fresh read, as a silo changing its status (or declaring another dead) does.</summary>
    protected async Task SetStatusAsync(SiloAddress silo, SiloStatus status, string? name = null)
    {
        var snapshot = await Table.ReadAllAsync(default);
        var (entry, etag) = snapshot.Members.Single(e => e.Item1.SiloAddress.Equals(silo));
        var changed = With(entry, status);
        changed.SiloName = name ?? entry.SiloName;
        Assert.True(await Table.UpdateRowAsync(changed, etag, snapshot.Version.Next(), default));
    }

    protected static void AssertSameEntry(MembershipEntry expected, MembershipEntry actual)
    {
        Assert.Equal(expected.SiloAddress, actual.SiloAddress);
        Assert.Equal(expected.SiloAddress.Generation, actual.SiloAddress.Generation);
        Assert.Equal(expected.Status, actual.Status);
        Assert.Equal(expected.HostName, actual.HostName);
        Assert.Equal(expected.SiloName, actual.SiloName);
        Assert.Equal(expected.RoleName, actual.RoleName);
        Assert.Equal(expected.UpdateZone, actual.UpdateZone);
        Assert.Equal(expected.FaultZone, actual.FaultZone);
        Assert.Equal(expected.ProxyPort, actual.ProxyPort);
        Assert.Equal(expected.StartTime, actual.StartTime);
        Assert.Equal(expected.StartTime.Kind, actual.StartTime.Kind);
        Assert.Equal(expected.IAmAliveTime, actual.IAmAliveTime);
        Assert.Equal(expected.SuspectTimes is null, actual.SuspectTimes is null);
        Assert.Equal(expected.SuspectTimes ?? [], actual.SuspectTimes ?? []);
    }

    protected static void AssertSameSnapshot(MembershipTableData expected, MembershipTableData actual)
    {
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(
            expected.Members.Select(e => (Number(e.Item1.SiloAddress), e.Item1.Status, e.Item1.SiloName, e.Item2)).Order(),
            actual.Members.Select(e => (Number(e.Item1.SiloAddress), e.Item1.Status, e.Item1.SiloName, e.Item2)).Order());
    }
}
