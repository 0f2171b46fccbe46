using Analytics.Aws.DynamoDB;
using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Aws.DynamoDB;

/// <summary>
/// The membership table in DynamoDB (<c>{TablePrefix}membership</c>): the cluster id is the hash key, so
/// that clusters can share the table and one cluster is one consistent Query; the range key is
/// <c>silo#{host:port@generation}</c> for a silo's row and <c>version</c> for the cluster's version row.
/// A silo row holds every field of <see cref="MembershipEntry"/>, an integer <c>etag</c> (1 at insert, +1
/// per change) and <c>tableVersion</c>, described below. A failed condition is an answer (false), never an
/// exception; throttling is retried (<see cref="DynamoDBRetry"/>).
/// </summary>
/// <remarks>
/// <para>
/// Orleans writes the version row and the silo row in one transaction. We do not (dynalite has none, and
/// we want one code path), so a change is up to three conditional single-item writes, and the version
/// row is the linearization point:
/// </para>
/// <list type="number">
/// <item><b>Fence.</b> The version row names the row and expected ETag of the last change that claimed a
/// version (its "pending" change). If the caller's snapshot showed that change as not yet landed on its
/// row (it travels in the snapshot's version ETag), it is made unable to land: the row's
/// <c>tableVersion</c> is raised to the version it claimed, on condition that the row still has the ETag
/// it expected. If it landed meanwhile, the caller's snapshot is stale: false.</item>
/// <item><b>Claim.</b> The version row moves from the caller's version to the next, on condition that it is
/// still the caller's, and records this change as the pending one. Of writers that read one version,
/// exactly one gets past here; the others answer false having changed nothing.</item>
/// <item><b>Land.</b> The silo row is written, on condition that its ETag is the expected one (that it has
/// none, for an insert) and that its <c>tableVersion</c> is below the claimed version; it records the
/// claimed version. True if and only if this write landed.</item>
/// </list>
/// <para>
/// Why this is as safe as the transaction. A change claimed at version v lands before any writer
/// claims v+1 or not at all: a writer claiming v+1 read version v first (<see cref="ReadAllAsync"/> reads
/// the version row before the silo rows), so it either saw the change landed or fences it before claiming.
/// By induction, every change that lands was decided on exactly the rows it read, and the changes land in
/// version order: the history is the one a transactional table would allow. The claim alone (the naive
/// order) is not enough: a silo reading between another's claim and its row write sees the new version
/// with the old rows, so silos A and B could each read themselves Active and declare the other dead, both
/// answered true. Here the later one fences the earlier, whose write then fails.
/// </para>
/// <para>
/// A crash (or a failed condition) between claim and land leaves the version advanced with no row
/// changed. Readers see only a version bump; the next writer fences the change, so a delayed write can
/// never land later. That is what <c>MembershipAgent</c> needs: on false it re-reads and retries
/// (its own status) or moves on (declaring another silo dead), and false always means "no row of mine
/// changed", though the version may have moved. A row write that landed but whose answer was lost, and
/// was retried, fails its condition; it is recognized by the row carrying this claim's version and ETag,
/// and answered true. Heartbeats change neither ETag nor version, as in memory and in Orleans.
/// </para>
/// </remarks>
public sealed partial class DynamoDBMembershipTable : IMembershipTable
{
    public const string TableSuffix = "membership";

    internal const string ClusterAttribute = "cluster";
    internal const string RowKeyAttribute = "rowKey";
    internal const string VersionRowKey = "version";
    internal const string SiloRowPrefix = "silo#";

    internal const string VersionAttribute = "version";
    internal const string PendingRowAttribute = "pendingRow";
    internal const string PendingETagAttribute = "pendingETag";

    internal const string ETagAttribute = "etag";
    internal const string TableVersionAttribute = "tableVersion";
    internal const string AddressAttribute = "address";
    internal const string StatusAttribute = "status";
    internal const string SiloNameAttribute = "siloName";
    internal const string ZoneAttribute = "zone";
    internal const string StartTimeAttribute = "startTime";
    internal const string IAmAliveAttribute = "iAmAliveTime";
    internal const string EndpointsAttribute = "endpoints";
    internal const string SuspicionsAttribute = "suspicions";

    private readonly IAmazonDynamoDB _client;
    private readonly DynamoDBOptions _options;
    private readonly ILogger _logger;

    public DynamoDBMembershipTable(IAmazonDynamoDB client, DynamoDBOptions options, string clusterId, ILogger<DynamoDBMembershipTable>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        _client = client;
        _options = options;
        _logger = logger ?? NullLogger<DynamoDBMembershipTable>.Instance;
        ClusterId = clusterId;
        TableName = options.TableName(TableSuffix);
    }

    public string ClusterId { get; }

    public string TableName { get; }

    public DynamoDBTableSpec TableSpec => new(TableName, ClusterAttribute, RowKeyAttribute);

    public Task InitializeAsync(CancellationToken cancellationToken) =>
        DynamoDBTables.PrepareAsync(_client, _options, TableSpec, cancellationToken);

    public async Task<MembershipTableSnapshot> ReadAllAsync(CancellationToken cancellationToken)
    {
        // The version row first: every change that claimed a version up to this one has landed or been fenced, so the rows read next include it.
        var versionRow = await GetAsync(VersionRowKey, cancellationToken).ConfigureAwait(false);
        var version = versionRow is null ? 0 : int.Parse(versionRow[VersionAttribute].N, NumberStyles.Integer, CultureInfo.InvariantCulture);
        var rows = new Dictionary<string, Dictionary<string, AttributeValue>>(StringComparer.Ordinal);
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var request = new QueryRequest
            {
                TableName = TableName,
                KeyConditionExpression = "#c = :c AND begins_with(#k, :silo)",
                ExpressionAttributeNames = new() { ["#c"] = ClusterAttribute, ["#k"] = RowKeyAttribute },
                ExpressionAttributeValues = new() { [":c"] = S(ClusterId), [":silo"] = S(SiloRowPrefix) },
                ConsistentRead = true,
                ExclusiveStartKey = start,
            };
            var page = await DynamoDBRetry.RunAsync(ct => _client.QueryAsync(request, ct), cancellationToken).ConfigureAwait(false);
            foreach (var item in page.Items ?? [])
            {
                rows[item[RowKeyAttribute].S] = item;
            }

            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        var etag = version.ToString(CultureInfo.InvariantCulture);
        if (versionRow is not null && versionRow.TryGetValue(PendingRowAttribute, out var pendingRow))
        {
            var expected = ParseLong(versionRow[PendingETagAttribute]);
            if (ETagOf(rows.GetValueOrDefault(pendingRow.S)) == expected)
            {
                // Not landed (yet): whoever writes from this snapshot must fence it first.
                etag = FormattableString.Invariant($"{version}|{expected}|{pendingRow.S}");
            }
        }

        var entries = rows.Values.Where(r => r.ContainsKey(ETagAttribute)).Select(r => (ToEntry(r), r[ETagAttribute].N)).ToList();
        return new MembershipTableSnapshot(new TableVersion(version, etag), entries);
    }

    public Task<bool> InsertRowAsync(MembershipEntry entry, TableVersion nextVersion, CancellationToken cancellationToken) =>
        WriteAsync(entry, 0, nextVersion, cancellationToken);

    public Task<bool> UpdateRowAsync(MembershipEntry entry, string etag, TableVersion nextVersion, CancellationToken cancellationToken) =>
        long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out var expected) && expected > 0
            ? WriteAsync(entry, expected, nextVersion, cancellationToken)
            : Task.FromResult(false);

    public async Task UpdateIAmAliveAsync(SiloAddress silo, DateTimeOffset time, CancellationToken cancellationToken)
    {
        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = TableName,
                Key = Key(RowKey(silo)),
                UpdateExpression = "SET #a = :a",
                // Only a real row: never creates one, nor fills in a fence's placeholder.
                ConditionExpression = "attribute_exists(#e)",
                ExpressionAttributeNames = new() { ["#a"] = IAmAliveAttribute, ["#e"] = ETagAttribute },
                ExpressionAttributeValues = new() { [":a"] = S(Time(time)) },
            }, ct), cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            // No such silo: as in memory, nothing to refresh.
        }
    }

    /// <param name="expected">The row's ETag; 0 for an insert (no row).</param>
    private async Task<bool> WriteAsync(MembershipEntry entry, long expected, TableVersion nextVersion, CancellationToken cancellationToken)
    {
        var previous = nextVersion.Version - 1;
        if (!TryParseVersionETag(nextVersion.ETag, previous, out var pending))
        {
            return false;
        }

        if (pending is { } fence && !await FenceAsync(fence.Row, fence.ETag, previous, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        var rowKey = RowKey(entry.Silo);
        if (!await ClaimAsync(previous, rowKey, expected, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        var item = ToItem(entry, rowKey, expected + 1, nextVersion.Version);
        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.PutItemAsync(new PutItemRequest
            {
                TableName = TableName,
                Item = item,
                ConditionExpression = ExpectETag(expected) + " AND (attribute_not_exists(#tv) OR #tv < :v)",
                ExpressionAttributeNames = ETagNames(),
                ExpressionAttributeValues = ETagValues(expected, nextVersion.Version),
            }, ct), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            // A stale ETag, a fence by a later writer, or our own write retried after its answer was lost.
            var row = await GetAsync(rowKey, cancellationToken).ConfigureAwait(false);
            return ETagOf(row) == expected + 1 && row![TableVersionAttribute].N == item[TableVersionAttribute].N;
        }
    }

    /// <summary>Makes the change that claimed <paramref name="claimed"/> unable to land, unless it already did (then false).</summary>
    private async Task<bool> FenceAsync(string rowKey, long expected, int claimed, CancellationToken cancellationToken)
    {
        try
        {
            // An UpdateItem creates the row if it is missing: a placeholder without ETag, which readers skip.
            await DynamoDBRetry.RunAsync(ct => _client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = TableName,
                Key = Key(rowKey),
                UpdateExpression = "SET #tv = :v",
                // Idempotent (<=), so a retried fence or a second writer fencing from the same snapshot passes.
                ConditionExpression = ExpectETag(expected) + " AND (attribute_not_exists(#tv) OR #tv <= :v)",
                ExpressionAttributeNames = ETagNames(),
                ExpressionAttributeValues = ETagValues(expected, claimed),
            }, ct), cancellationToken).ConfigureAwait(false);
            LogFenced(ClusterId, rowKey, claimed);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }

    private async Task<bool> ClaimAsync(int previous, string rowKey, long expected, CancellationToken cancellationToken)
    {
        var values = new Dictionary<string, AttributeValue> { [":next"] = N(previous + 1), [":row"] = S(rowKey), [":expected"] = N(expected) };
        if (previous > 0)
        {
            values[":previous"] = N(previous);
        }

        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = TableName,
                Key = Key(VersionRowKey),
                UpdateExpression = "SET #v = :next, #pr = :row, #pe = :expected",
                ConditionExpression = previous > 0 ? "#v = :previous" : "attribute_not_exists(#v)",
                ExpressionAttributeNames = new() { ["#v"] = VersionAttribute, ["#pr"] = PendingRowAttribute, ["#pe"] = PendingETagAttribute },
                ExpressionAttributeValues = values,
            }, ct), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            // Another writer claimed it; if it was this one whose answer was lost, nothing landed either way.
            return false;
        }
    }

    /// <summary>The version ETag of a snapshot: "version", or "version|expected ETag|row key" while that row's change had not landed.</summary>
    private static bool TryParseVersionETag(string etag, int previous, out (string Row, long ETag)? pending)
    {
        pending = null;
        var parts = etag.Split('|', 3);
        if (previous < 0 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var version) || version != previous)
        {
            return false;
        }

        if (parts.Length == 3 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var expected) && parts[2].StartsWith(SiloRowPrefix, StringComparison.Ordinal))
        {
            pending = (parts[2], expected);
        }

        return parts.Length == 1 || pending is not null;
    }

    private async Task<Dictionary<string, AttributeValue>?> GetAsync(string rowKey, CancellationToken cancellationToken)
    {
        var response = await DynamoDBRetry.RunAsync(ct => _client.GetItemAsync(new GetItemRequest
        {
            TableName = TableName,
            Key = Key(rowKey),
            ConsistentRead = true,
        }, ct), cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? item : null;
    }

    private static string ExpectETag(long expected) => expected == 0 ? "attribute_not_exists(#e)" : "#e = :e";

    private static Dictionary<string, string> ETagNames() => new() { ["#e"] = ETagAttribute, ["#tv"] = TableVersionAttribute };

    private static Dictionary<string, AttributeValue> ETagValues(long expected, int version)
    {
        var values = new Dictionary<string, AttributeValue> { [":v"] = N(version) };
        if (expected != 0)
        {
            values[":e"] = N(expected);
        }

        return values;
    }

    /// <summary>A row's ETag; 0 when there is no row, or only a fence's placeholder.</summary>
    private static long ETagOf(Dictionary<string, AttributeValue>? row) =>
        row is not null && row.TryGetValue(ETagAttribute, out var etag) ? ParseLong(etag) : 0;

    internal static string RowKey(SiloAddress silo) => SiloRowPrefix + silo;

    private Dictionary<string, AttributeValue> Key(string rowKey) => new()
    {
        [ClusterAttribute] = S(ClusterId),
        [RowKeyAttribute] = S(rowKey),
    };

    private Dictionary<string, AttributeValue> ToItem(MembershipEntry entry, string rowKey, long etag, int tableVersion)
    {
        var item = Key(rowKey);
        item[AddressAttribute] = S(entry.Silo.ToString());
        item[StatusAttribute] = S(entry.Status.ToString());
        item[SiloNameAttribute] = S(entry.SiloName);
        item[StartTimeAttribute] = S(Time(entry.StartTime));
        item[IAmAliveAttribute] = S(Time(entry.IAmAliveTime));
        item[ETagAttribute] = N(etag);
        item[TableVersionAttribute] = N(tableVersion);
        if (entry.Zone is { } zone)
        {
            item[ZoneAttribute] = S(zone);
        }

        // Empty collections are left out rather than written empty, and read back as empty.
        if (entry.Endpoints.Count > 0)
        {
            item[EndpointsAttribute] = new AttributeValue { M = entry.Endpoints.ToDictionary(e => e.Key, e => S(e.Value)) };
        }

        if (entry.Suspicions.Count > 0)
        {
            item[SuspicionsAttribute] = new AttributeValue
            {
                L = [.. entry.Suspicions.Select(s => new AttributeValue { M = new() { ["voter"] = S(s.Voter.ToString()), ["time"] = S(Time(s.Time)) } })],
            };
        }

        return item;
    }

    private static MembershipEntry ToEntry(Dictionary<string, AttributeValue> item) => new()
    {
        Silo = SiloAddress.Parse(item[AddressAttribute].S),
        Status = Enum.Parse<SiloStatus>(item[StatusAttribute].S),
        SiloName = item[SiloNameAttribute].S,
        Zone = item.TryGetValue(ZoneAttribute, out var zone) ? zone.S : null,
        StartTime = ParseTime(item[StartTimeAttribute]),
        IAmAliveTime = ParseTime(item[IAmAliveAttribute]),
        Endpoints = item.TryGetValue(EndpointsAttribute, out var endpoints) && endpoints.M is { } map
            ? map.ToDictionary(e => e.Key, e => e.Value.S)
            : new Dictionary<string, string>(),
        Suspicions = item.TryGetValue(SuspicionsAttribute, out var suspicions) && suspicions.L is { } list
            ? [.. list.Select(s => new SuspicionVote(SiloAddress.Parse(s.M["voter"].S), ParseTime(s.M["time"])))]
            : [],
    };

    // Round-trip format: exact to the tick, offset kept, and readable in the console.
    private static string Time(DateTimeOffset time) => time.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(AttributeValue value) => DateTimeOffset.ParseExact(value.S, "O", CultureInfo.InvariantCulture, DateTimeStyles.None);

    private static long ParseLong(AttributeValue value) => long.Parse(value.N, NumberStyles.Integer, CultureInfo.InvariantCulture);

    private static AttributeValue S(string value) => new() { S = value };

    private static AttributeValue N(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Membership table, cluster {ClusterId}: fenced the change of {Row} claimed at version {Version}, which had not landed")]
    private partial void LogFenced(string clusterId, string row, int version);
}

public static class DynamoDBClusteringExtensions
{
    /// <summary>
    /// Keeps the silo's membership in the DynamoDB table <c>{TablePrefix}membership</c>, under the silo's
    /// cluster id (<see cref="SiloOptions.ClusterId"/>), instead of the in-process table. Needs the shared
    /// client and options (<see cref="DynamoDBServiceCollectionExtensions.AddDynamoDB"/>). The table is
    /// created (or checked, when DynamoDB:CreateTables is false) when the silo joins the cluster.
    /// </summary>
    public static ISiloBuilder UseDynamoDBClustering(this ISiloBuilder builder)
    {
        var services = builder.Services;
        // The silo registers the in-process table before its configure callback runs: replace it.
        services.RemoveAll<IMembershipTable>();
        services.AddSingleton<IMembershipTable>(sp => new DynamoDBMembershipTable(
            sp.GetService<IAmazonDynamoDB>() ?? throw new InvalidOperationException(
                "DynamoDB clustering needs an IAmazonDynamoDB client: call services.AddDynamoDB(configuration) as well."),
            sp.GetRequiredService<IOptions<DynamoDBOptions>>().Value,
            sp.GetRequiredService<LocalSiloDetails>().ClusterId,
            sp.GetRequiredService<ILogger<DynamoDBMembershipTable>>()));
        return builder;
    }
}
