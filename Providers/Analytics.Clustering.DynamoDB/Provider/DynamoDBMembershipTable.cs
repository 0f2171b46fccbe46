using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Runtime;
using static Analytics.Clustering.DynamoDB.MembershipRow;

namespace Analytics.Clustering.DynamoDB;

/// <summary>
/// Orleans' membership table on DynamoDB, without transactions (dynalite has none, and we want one code
/// path): every change is conditional single-item writes, and the cluster's version row is the
/// linearization point. Rows are scoped by <see cref="ClusterOptions.ClusterId"/> (see <see cref="MembershipRow"/>).
/// A failed condition is an answer (false), never an exception; throttling is retried (<see cref="DynamoDBRetry"/>)
/// within <see cref="DynamoDBClusteringOptions.OperationTimeout"/>.
/// </summary>
/// <remarks>
/// <para>
/// A change (InsertRow, UpdateRow) is two writes. <b>Claim:</b> the version row moves from the version the
/// caller read to the next, on condition that it is still the one read, and names this change as its
/// "pending" one (row key and expected row ETag). Of writers that read one version exactly one gets
/// past here. <b>Land:</b> the silo row is written, on condition that its ETag is the expected one (no
/// row, for an insert) and that its <c>tableVersion</c> is below the claimed version; it records that
/// version and ETag + 1. The answer is true if and only if the row write landed.
/// </para>
/// <para>
/// <b>Fence.</b> A reader that finds the pending change not landed makes it unable to land, by raising
/// that row's <c>tableVersion</c> to the claimed version on condition that the row still has the ETag the
/// change expects (creating a placeholder without ETag when an insert is pending). If the change landed
/// meanwhile the fence fails and the reader reads again. So every snapshot of version v holds the final
/// outcome of the change that claimed v, landed or never: one version, one content, which Orleans
/// assumes (a silo takes a same-version snapshot for news only if its heartbeats are later).
/// </para>
/// <para>
/// Why this is as safe as the transaction. A change claimed at v+1 was decided from a snapshot of v, in
/// which the change of v was settled; so changes land in version order, each decided on exactly the rows
/// its writer read. Without the fence, silos A and B reading between a claim and its row write could each
/// read themselves Active and declare the other dead, both answered true; with it, the later one's read
/// fences the earlier change, whose write then fails. A writer that dies between claim and land leaves
/// only a version bump, fenced by the next reader. A row write whose answer was lost and was retried fails
/// its condition; it is recognized by the row carrying this claim's version and ETag, and answered true.
/// Heartbeats change neither the row ETag nor the version, so an ETag read before one stays good.
/// </para>
/// </remarks>
public sealed partial class DynamoDBMembershipTable : IMembershipTable
{
    private readonly IAmazonDynamoDB _client;
    private readonly bool _createTable;
    private readonly TimeSpan _tableActiveTimeout;
    private readonly TimeSpan _operationTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public DynamoDBMembershipTable(
        IAmazonDynamoDB client,
        IOptions<DynamoDBClusteringOptions> options,
        IOptions<DynamoDBOptions> dynamoDB,
        IOptions<ClusterOptions> cluster,
        TimeProvider timeProvider,
        ILogger<DynamoDBMembershipTable> logger)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(dynamoDB);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        if (string.IsNullOrWhiteSpace(cluster.Value.ClusterId))
        {
            throw new ArgumentException("DynamoDB clustering: ClusterOptions.ClusterId must be set; it is the hash key of every membership row.", nameof(cluster));
        }

        _client = client;
        _createTable = options.Value.ResolveCreateTable(dynamoDB.Value);
        _tableActiveTimeout = dynamoDB.Value.TableActiveTimeout;
        _operationTimeout = options.Value.OperationTimeout;
        _time = timeProvider;
        _logger = logger;
        ClusterId = cluster.Value.ClusterId;
        TableSpec = TableSpecFor(options.Value.ResolveTableName(dynamoDB.Value));
    }

    public string ClusterId { get; }

    public string TableName => TableSpec.Name;

    public DynamoDBTableSpec TableSpec { get; }

    /// <summary>The table's key schema, for infrastructure code that creates it (deploy/): string keys <c>cluster</c> (hash) and <c>rowKey</c> (range).</summary>
    public static DynamoDBTableSpec TableSpecFor(string tableName) => new(tableName, ClusterAttribute, RowKeyAttribute);

    /// <summary>The table's key schema under the name the options give (by default <c>{DynamoDB:TablePrefix}membership</c>).</summary>
    public static DynamoDBTableSpec TableSpecFor(DynamoDBOptions dynamoDB, DynamoDBClusteringOptions? options = null) =>
        TableSpecFor((options ?? new DynamoDBClusteringOptions()).ResolveTableName(dynamoDB));

    Task IMembershipTable.InitializeMembershipTable(bool tryInitTableVersion) => InitializeMembershipTableAsync(tryInitTableVersion, CancellationToken.None);

    /// <summary>Creates the table when allowed and missing, or checks that it exists. A missing version row is version 0: nothing to initialize.</summary>
    public async Task InitializeMembershipTableAsync(bool tryInitTableVersion, CancellationToken cancellationToken)
    {
        await MembershipTablePreparation.PrepareAsync(_client, TableSpec, _createTable, _tableActiveTimeout, cancellationToken).ConfigureAwait(false);
        LogInitialized(TableName, ClusterId, _createTable);
    }

    Task<MembershipTableData> IMembershipTable.ReadAll() => ReadAllAsync(CancellationToken.None);

    public async Task<MembershipTableData> ReadAllAsync(CancellationToken cancellationToken)
    {
        using var budget = Budget(cancellationToken);
        while (true)
        {
            // The version row first: the rows read next include every change up to its version, but maybe its own pending one.
            var versionRow = await GetAsync(VersionRowKey, budget.Token).ConfigureAwait(false);
            var rows = await QuerySiloRowsAsync(budget.Token).ConfigureAwait(false);
            var pending = Pending(versionRow);
            if (pending is null || await SettleAsync(pending.Value, rows.GetValueOrDefault(pending.Value.Row), budget.Token).ConfigureAwait(false))
            {
                var entries = rows.Values.Where(IsSiloRow).Select(r => Tuple.Create(ToEntry(r), r[ETagAttribute].N)).ToList();
                return new MembershipTableData(entries, VersionOf(versionRow));
            }
        }
    }

    Task<MembershipTableData> IMembershipTable.ReadRow(SiloAddress key) => ReadRowAsync(key, CancellationToken.None);

    public async Task<MembershipTableData> ReadRowAsync(SiloAddress key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        using var budget = Budget(cancellationToken);
        var rowKey = RowKey(key);
        while (true)
        {
            var versionRow = await GetAsync(VersionRowKey, budget.Token).ConfigureAwait(false);
            var row = await GetAsync(rowKey, budget.Token).ConfigureAwait(false);
            var pending = Pending(versionRow);
            var pendingRow = pending is null || pending.Value.Row == rowKey ? row : await GetAsync(pending.Value.Row, budget.Token).ConfigureAwait(false);
            if (pending is null || await SettleAsync(pending.Value, pendingRow, budget.Token).ConfigureAwait(false))
            {
                var version = VersionOf(versionRow);
                return row is not null && IsSiloRow(row)
                    ? new MembershipTableData(Tuple.Create(ToEntry(row), row[ETagAttribute].N), version)
                    : new MembershipTableData(version);
            }
        }
    }

    Task IMembershipTable.UpdateIAmAlive(MembershipEntry entry) => UpdateIAmAliveAsync(entry, CancellationToken.None);

    /// <summary>Sets the heartbeat alone: no condition on the version, and the row's ETag is left as it is.</summary>
    public async Task UpdateIAmAliveAsync(MembershipEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        using var budget = Budget(cancellationToken);
        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = TableName,
                Key = Key(ClusterId, RowKey(entry.SiloAddress)),
                UpdateExpression = "SET #a = :a",
                // Only a real row: never creates one, nor fills in a fence's placeholder.
                ConditionExpression = "attribute_exists(#e)",
                ExpressionAttributeNames = new() { ["#a"] = IAmAliveAttribute, ["#e"] = ETagAttribute },
                ExpressionAttributeValues = new() { [":a"] = S(Time(entry.IAmAliveTime)) },
            }, ct), budget.Token, _time).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            // No such silo: nothing to refresh.
        }
    }

    private OperationBudget Budget(CancellationToken cancellationToken) => new(cancellationToken, _operationTimeout, _time);

    private async Task<Dictionary<string, Dictionary<string, AttributeValue>>> QuerySiloRowsAsync(CancellationToken cancellationToken)
    {
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
            var page = await DynamoDBRetry.RunAsync(ct => _client.QueryAsync(request, ct), cancellationToken, _time).ConfigureAwait(false);
            foreach (var item in page.Items ?? [])
            {
                rows[item[RowKeyAttribute].S] = item;
            }

            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        return rows;
    }

    private async Task<Dictionary<string, AttributeValue>?> GetAsync(string rowKey, CancellationToken cancellationToken)
    {
        var response = await DynamoDBRetry.RunAsync(ct => _client.GetItemAsync(new GetItemRequest
        {
            TableName = TableName,
            Key = Key(ClusterId, rowKey),
            ConsistentRead = true,
        }, ct), cancellationToken, _time).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? item : null;
    }

    /// <summary>The version's ETag is its number: versions only grow, so it is never reused (but see <see cref="DeleteMembershipTableEntriesAsync"/>).</summary>
    private static TableVersion VersionOf(Dictionary<string, AttributeValue>? versionRow)
    {
        var version = versionRow is null ? 0 : ParseInt(versionRow[VersionAttribute]);
        return new TableVersion(version, version.ToString(CultureInfo.InvariantCulture));
    }

    private static (string Row, long ETag, int Version)? Pending(Dictionary<string, AttributeValue>? versionRow) =>
        versionRow is not null && versionRow.TryGetValue(PendingRowAttribute, out var row) && versionRow.TryGetValue(PendingETagAttribute, out var etag)
            ? (row.S, ParseLong(etag), ParseInt(versionRow[VersionAttribute]))
            : null;

    [LoggerMessage(Level = LogLevel.Information, Message = "Membership table {TableName} ready for cluster {ClusterId} (create if missing: {CreateTable})")]
    private partial void LogInitialized(string tableName, string clusterId, bool createTable);
}
