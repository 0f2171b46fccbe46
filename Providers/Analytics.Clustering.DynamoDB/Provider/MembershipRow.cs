using System.Globalization;
using Amazon.DynamoDBv2.Model;
using Orleans;
using Orleans.Runtime;

namespace Analytics.Clustering.DynamoDB;

/// <summary>
/// The item layout of the membership table, shared by the silos' table and the clients' gateway list.
/// The cluster id is the hash key, so that clusters share a table and one cluster is one Query; the
/// range key is <c>silo#{ip:port@generation}</c> for a silo's row and <c>version</c> for the cluster's
/// version row. A silo row holds every field of <see cref="MembershipEntry"/> as a named attribute
/// (readable in the console), plus the protocol's <c>etag</c> and <c>tableVersion</c>.
/// </summary>
internal static class MembershipRow
{
    public const string ClusterAttribute = "cluster";
    public const string RowKeyAttribute = "rowKey";
    public const string VersionRowKey = "version";
    public const string SiloRowPrefix = "silo#";

    // The version row.
    public const string VersionAttribute = "version";
    public const string PendingRowAttribute = "pendingRow";
    public const string PendingETagAttribute = "pendingETag";

    // A silo row.
    public const string ETagAttribute = "etag";
    public const string TableVersionAttribute = "tableVersion";
    public const string AddressAttribute = "address";
    public const string StatusAttribute = "status";
    public const string ProxyPortAttribute = "proxyPort";
    public const string HostNameAttribute = "hostName";
    public const string SiloNameAttribute = "siloName";
    public const string RoleNameAttribute = "roleName";
    public const string UpdateZoneAttribute = "updateZone";
    public const string FaultZoneAttribute = "faultZone";
    public const string StartTimeAttribute = "startTime";
    public const string IAmAliveAttribute = "iAmAliveTime";
    public const string SuspectTimesAttribute = "suspectTimes";
    private const string VoterAttribute = "voter";
    private const string VoteTimeAttribute = "time";

    public static string RowKey(SiloAddress silo) => SiloRowPrefix + silo.ToParsableString();

    public static Dictionary<string, AttributeValue> Key(string clusterId, string rowKey) => new()
    {
        [ClusterAttribute] = S(clusterId),
        [RowKeyAttribute] = S(rowKey),
    };

    /// <summary>A real silo row, as opposed to a fence's placeholder (which has no ETag and no entry).</summary>
    public static bool IsSiloRow(Dictionary<string, AttributeValue> item) => item.ContainsKey(ETagAttribute);

    public static Dictionary<string, AttributeValue> ToItem(string clusterId, MembershipEntry entry, long etag, int tableVersion)
    {
        var item = Key(clusterId, RowKey(entry.SiloAddress));
        item[AddressAttribute] = S(entry.SiloAddress.ToParsableString());
        item[StatusAttribute] = S(entry.Status.ToString());
        item[ProxyPortAttribute] = N(entry.ProxyPort);
        item[UpdateZoneAttribute] = N(entry.UpdateZone);
        item[FaultZoneAttribute] = N(entry.FaultZone);
        item[StartTimeAttribute] = S(Time(entry.StartTime));
        item[IAmAliveAttribute] = S(Time(entry.IAmAliveTime));
        item[ETagAttribute] = N(etag);
        item[TableVersionAttribute] = N(tableVersion);
        // Null has no DynamoDB string form: an unset string is left out, and read back unset ("" is kept as "").
        if (entry.HostName is { } host)
        {
            item[HostNameAttribute] = S(host);
        }

        if (entry.SiloName is { } name)
        {
            item[SiloNameAttribute] = S(name);
        }

        if (entry.RoleName is { } role)
        {
            item[RoleNameAttribute] = S(role);
        }

        // Null and empty are different to Orleans (AddOrUpdateSuspector creates the list): keep them apart.
        if (entry.SuspectTimes is { } votes)
        {
            item[SuspectTimesAttribute] = new AttributeValue
            {
                L = [.. votes.Select(v => new AttributeValue { M = new() { [VoterAttribute] = S(v.Item1.ToParsableString()), [VoteTimeAttribute] = S(Time(v.Item2)) } })],
                IsLSet = true,
            };
        }

        return item;
    }

    public static MembershipEntry ToEntry(Dictionary<string, AttributeValue> item) => new()
    {
        SiloAddress = SiloAddress.FromParsableString(Required(item, AddressAttribute).S),
        Status = Enum.Parse<SiloStatus>(Required(item, StatusAttribute).S),
        ProxyPort = ParseInt(Required(item, ProxyPortAttribute)),
        HostName = item.TryGetValue(HostNameAttribute, out var host) ? host.S : null!,
        SiloName = item.TryGetValue(SiloNameAttribute, out var name) ? name.S : null!,
        RoleName = item.TryGetValue(RoleNameAttribute, out var role) ? role.S : null,
        UpdateZone = ParseInt(Required(item, UpdateZoneAttribute)),
        FaultZone = ParseInt(Required(item, FaultZoneAttribute)),
        StartTime = ParseTime(Required(item, StartTimeAttribute)),
        IAmAliveTime = ParseTime(Required(item, IAmAliveAttribute)),
        SuspectTimes = item.TryGetValue(SuspectTimesAttribute, out var votes) && votes.L is { } list
            ? [.. list.Select(v => Tuple.Create(SiloAddress.FromParsableString(v.M[VoterAttribute].S), ParseTime(v.M[VoteTimeAttribute])))]
            : null,
    };

    /// <summary>
    /// The home-made runtime's membership table has the same name and keys but other attributes: a cluster
    /// id shared by both would mix two protocols on one version row, so its rows are refused by name.
    /// </summary>
    private static AttributeValue Required(Dictionary<string, AttributeValue> item, string attribute) =>
        item.TryGetValue(attribute, out var value)
            ? value
            : throw new InvalidDataException(
                $"Membership row '{item.GetValueOrDefault(RowKeyAttribute)?.S}' of cluster '{item.GetValueOrDefault(ClusterAttribute)?.S}' has no '{attribute}': "
                + "it is not an Orleans membership row. Is another membership implementation (the home-made runtime's) using the same table and cluster id?");

    /// <summary>A row's ETag; 0 when there is no row, or only a fence's placeholder.</summary>
    public static long ETagOf(Dictionary<string, AttributeValue>? item) =>
        item is not null && item.TryGetValue(ETagAttribute, out var etag) ? ParseLong(etag) : 0;

    /// <summary>
    /// The latest sign of life a row shows: its start, its last heartbeat, or the latest suspicion vote
    /// against it (declaring a silo dead adds one), in UTC. Orleans' cleanup ages rows by the same rule.
    /// </summary>
    public static DateTime LastUpdateUtc(MembershipEntry entry)
    {
        var latest = Utc(entry.StartTime) > Utc(entry.IAmAliveTime) ? Utc(entry.StartTime) : Utc(entry.IAmAliveTime);
        foreach (var vote in entry.SuspectTimes ?? [])
        {
            latest = Utc(vote.Item2) > latest ? Utc(vote.Item2) : latest;
        }

        return latest;
    }

    // Orleans writes UTC times but types them DateTime; an unspecified kind is taken for UTC, as Orleans does.
    private static DateTime Utc(DateTime time) => time.Kind == DateTimeKind.Local ? time.ToUniversalTime() : DateTime.SpecifyKind(time, DateTimeKind.Utc);

    // Round-trip format: exact to the tick, the kind kept, and readable in the console.
    public static string Time(DateTime time) => time.ToString("O", CultureInfo.InvariantCulture);

    public static DateTime ParseTime(AttributeValue value) => DateTime.ParseExact(value.S, "O", CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    public static long ParseLong(AttributeValue value) => long.Parse(value.N, NumberStyles.Integer, CultureInfo.InvariantCulture);

    public static int ParseInt(AttributeValue value) => int.Parse(value.N, NumberStyles.Integer, CultureInfo.InvariantCulture);

    public static AttributeValue S(string value) => new() { S = value };

    public static AttributeValue N(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };
}
