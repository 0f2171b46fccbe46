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
}
