using System.Globalization;
using Orleans;
using Orleans.Runtime;

namespace Analytics.Clustering.Tests;

/// <summary>
/// The contract of <see cref="IMembershipTable"/> at its plainest: one lock, a version with its own ETag,
/// rows with theirs, and the same cleanup rule as the DynamoDB table. The conformance tests run against it
/// too, so that they test the contract rather than one implementation's accidents. Clusters share a store,
/// as they share a DynamoDB table.
/// </summary>
internal sealed class ReferenceMembershipTable(ReferenceMembershipTable.Store store, string clusterId) : IMembershipTable
{
    public sealed class Store
    {
        internal readonly Lock Lock = new();
        internal readonly Dictionary<string, Cluster> Clusters = [];
        internal long NextETag = 1;

        internal string NewETag() => (NextETag++).ToString(CultureInfo.InvariantCulture);
    }

    internal sealed class Cluster(string versionETag)
    {
        public TableVersion Version { get; set; } = new(0, versionETag);

        public Dictionary<SiloAddress, (MembershipEntry Entry, string ETag)> Rows { get; } = [];
    }

    private Cluster Mine => store.Clusters.TryGetValue(clusterId, out var cluster) ? cluster : store.Clusters[clusterId] = new Cluster("0");

    public Task InitializeMembershipTable(bool tryInitTableVersion) => Task.CompletedTask;

    public Task DeleteMembershipTableEntries(string clusterId)
    {
        lock (store.Lock)
        {
            store.Clusters.Remove(clusterId);
        }

        return Task.CompletedTask;
    }

    public Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate)
    {
        lock (store.Lock)
        {
            foreach (var (silo, row) in Mine.Rows.Where(r => r.Value.Entry.Status != SiloStatus.Active && LastUpdate(r.Value.Entry) < beforeDate.UtcDateTime).ToList())
            {
                Mine.Rows.Remove(silo);
            }
        }

        return Task.CompletedTask;
    }

    public Task<MembershipTableData> ReadRow(SiloAddress key)
    {
        lock (store.Lock)
        {
            return Task.FromResult(Mine.Rows.TryGetValue(key, out var row)
                ? new MembershipTableData(Tuple.Create(Clone(row.Entry), row.ETag), Mine.Version)
                : new MembershipTableData(Mine.Version));
        }
    }

    public Task<MembershipTableData> ReadAll()
    {
        lock (store.Lock)
        {
            return Task.FromResult(new MembershipTableData([.. Mine.Rows.Values.Select(r => Tuple.Create(Clone(r.Entry), r.ETag))], Mine.Version));
        }
    }

    public Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion)
    {
        lock (store.Lock)
        {
            if (!IsNext(tableVersion) || Mine.Rows.ContainsKey(entry.SiloAddress))
            {
                return Task.FromResult(false);
            }

            Write(entry, tableVersion);
            return Task.FromResult(true);
        }
    }

    public Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion)
    {
        lock (store.Lock)
        {
            if (!IsNext(tableVersion) || !Mine.Rows.TryGetValue(entry.SiloAddress, out var row) || row.ETag != etag)
            {
                return Task.FromResult(false);
            }

            Write(entry, tableVersion);
            return Task.FromResult(true);
        }
    }

    public Task UpdateIAmAlive(MembershipEntry entry)
    {
        lock (store.Lock)
        {
            if (Mine.Rows.TryGetValue(entry.SiloAddress, out var row))
            {
                var updated = Clone(row.Entry);
                updated.IAmAliveTime = entry.IAmAliveTime;
                Mine.Rows[entry.SiloAddress] = (updated, row.ETag);
            }
        }

        return Task.CompletedTask;
    }

    private bool IsNext(TableVersion tableVersion) =>
        tableVersion.VersionEtag == Mine.Version.VersionEtag && tableVersion.Version == Mine.Version.Version + 1;

    private void Write(MembershipEntry entry, TableVersion tableVersion)
    {
        Mine.Rows[entry.SiloAddress] = (Clone(entry), store.NewETag());
        Mine.Version = new TableVersion(tableVersion.Version, store.NewETag());
    }

    private static DateTime LastUpdate(MembershipEntry entry) =>
        new[] { entry.StartTime, entry.IAmAliveTime }.Concat(entry.SuspectTimes?.Select(v => v.Item2) ?? []).Max();

    internal static MembershipEntry Clone(MembershipEntry entry) => new()
    {
        SiloAddress = entry.SiloAddress,
        Status = entry.Status,
        SuspectTimes = entry.SuspectTimes is null ? null : [.. entry.SuspectTimes],
        ProxyPort = entry.ProxyPort,
        HostName = entry.HostName,
        SiloName = entry.SiloName,
        RoleName = entry.RoleName,
        UpdateZone = entry.UpdateZone,
        FaultZone = entry.FaultZone,
        StartTime = entry.StartTime,
        IAmAliveTime = entry.IAmAliveTime,
    };
}
