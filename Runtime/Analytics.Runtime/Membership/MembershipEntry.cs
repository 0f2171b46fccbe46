namespace Analytics.Runtime.Membership;

/// <summary>One silo's row in the membership table.</summary>
public sealed record MembershipEntry
{
    public required SiloAddress Silo { get; init; }

    public required SiloStatus Status { get; init; }

    public required string SiloName { get; init; }

    public string? Zone { get; init; }

    public DateTimeOffset StartTime { get; init; }

    public DateTimeOffset IAmAliveTime { get; init; }

    /// <summary>Addresses of other silos' endpoints (HTTP, gateway) for clients and dashboards.</summary>
    public IReadOnlyDictionary<string, string> Endpoints { get; init; } = new Dictionary<string, string>();

    /// <summary>Suspicion votes: which silo suspected this one, and when.</summary>
    public IReadOnlyList<SuspicionVote> Suspicions { get; init; } = [];
}

public sealed record SuspicionVote(SiloAddress Voter, DateTimeOffset Time);

/// <summary>The version row: every change to the table advances it with a compare-and-swap.</summary>
public sealed record TableVersion(int Version, string ETag)
{
    public TableVersion Next() => this with { Version = Version + 1 };
}

public sealed record MembershipTableSnapshot(TableVersion Version, IReadOnlyList<(MembershipEntry Entry, string ETag)> Entries);

/// <summary>
/// The membership table, in the style of Orleans: one row per silo plus a version row. Writers
/// always pass the ETag they read, so every change is a conditional write and concurrent writers
/// cannot both win. Implementations: in memory (test clusters and embedded mode) and DynamoDB.
/// </summary>
public interface IMembershipTable
{
    Task InitializeAsync(CancellationToken cancellationToken);

    Task<MembershipTableSnapshot> ReadAllAsync(CancellationToken cancellationToken);

    /// <summary>Inserts a new row and advances the version; false if the row exists or the version moved.</summary>
    Task<bool> InsertRowAsync(MembershipEntry entry, TableVersion nextVersion, CancellationToken cancellationToken);

    /// <summary>Replaces a row if its ETag still matches and advances the version; false otherwise.</summary>
    Task<bool> UpdateRowAsync(MembershipEntry entry, string etag, TableVersion nextVersion, CancellationToken cancellationToken);

    /// <summary>Refreshes only the heartbeat column; needs no version change.</summary>
    Task UpdateIAmAliveAsync(SiloAddress silo, DateTimeOffset time, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the rows of defunct silos: those whose status is Dead and whose last sign of life (the later
    /// of IAmAliveTime and StartTime) is before <paramref name="beforeDate"/>; returns how many this call
    /// deleted. Never touches the version row or another cluster's rows, and needs no version change (a
    /// Dead row does not place anything). Each delete is conditional on the row being unchanged since it
    /// was read, still Dead, so a row written meanwhile is kept; concurrent cleanups are harmless, each row
    /// being deleted by at most one of them.
    /// </summary>
    Task<int> CleanupDefunctSiloEntriesAsync(DateTimeOffset beforeDate, CancellationToken cancellationToken);
}
