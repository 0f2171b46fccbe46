namespace Analytics.Runtime.Membership;

/// <summary>A membership table in memory, shared by the silos of one process (test clusters, embedded mode).</summary>
public sealed class InMemoryMembershipTable : IMembershipTable
{
    private readonly object _lock = new();
    private readonly Dictionary<SiloAddress, (MembershipEntry Entry, int ETag)> _rows = [];
    private TableVersion _version = new(0, "0");
    private int _nextETag;

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<MembershipTableSnapshot> ReadAllAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var entries = _rows.Values.Select(r => (r.Entry, r.ETag.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();
            return Task.FromResult(new MembershipTableSnapshot(_version, entries));
        }
    }

    public Task<bool> InsertRowAsync(MembershipEntry entry, TableVersion nextVersion, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_rows.ContainsKey(entry.Silo) || !AdvanceVersion(nextVersion))
            {
                return Task.FromResult(false);
            }

            _rows[entry.Silo] = (entry, ++_nextETag);
            return Task.FromResult(true);
        }
    }

    public Task<bool> UpdateRowAsync(MembershipEntry entry, string etag, TableVersion nextVersion, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_rows.TryGetValue(entry.Silo, out var row) || row.ETag.ToString(System.Globalization.CultureInfo.InvariantCulture) != etag || !AdvanceVersion(nextVersion))
            {
                return Task.FromResult(false);
            }

            _rows[entry.Silo] = (entry, ++_nextETag);
            return Task.FromResult(true);
        }
    }

    public Task UpdateIAmAliveAsync(SiloAddress silo, DateTimeOffset time, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_rows.TryGetValue(silo, out var row))
            {
                // The heartbeat does not change the row's ETag, as in Orleans: it is diagnostic.
                _rows[silo] = (row.Entry with { IAmAliveTime = time }, row.ETag);
            }
        }

        return Task.CompletedTask;
    }

    public Task<int> CleanupDefunctSiloEntriesAsync(DateTimeOffset beforeDate, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            // Under the lock the read and the delete are one step, so no row can change in between.
            var defunct = _rows.Values
                .Where(r => r.Entry.Status == SiloStatus.Dead && LastSignOfLife(r.Entry) < beforeDate)
                .Select(r => r.Entry.Silo)
                .ToList();
            foreach (var silo in defunct)
            {
                _rows.Remove(silo);
            }

            return Task.FromResult(defunct.Count);
        }
    }

    private static DateTimeOffset LastSignOfLife(MembershipEntry entry) => entry.IAmAliveTime > entry.StartTime ? entry.IAmAliveTime : entry.StartTime;

    private bool AdvanceVersion(TableVersion nextVersion)
    {
        if (nextVersion.Version != _version.Version + 1 || nextVersion.ETag != _version.ETag)
        {
            return false;
        }

        _version = new TableVersion(nextVersion.Version, nextVersion.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return true;
    }
}
