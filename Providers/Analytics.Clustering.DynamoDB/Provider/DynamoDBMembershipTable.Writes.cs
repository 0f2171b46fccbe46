using System.Globalization;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.Logging;
using Orleans;
using static Analytics.Clustering.DynamoDB.MembershipRow;

namespace Analytics.Clustering.DynamoDB;

/// <summary>The claim, land and fence writes of the protocol described on <see cref="DynamoDBMembershipTable"/>.</summary>
public sealed partial class DynamoDBMembershipTable
{
    Task<bool> IMembershipTable.InsertRow(MembershipEntry entry, TableVersion tableVersion) => InsertRowAsync(entry, tableVersion, CancellationToken.None);

    /// <summary>Adds the silo's row; false if it exists, or if <paramref name="tableVersion"/> is not the next after the stored one.</summary>
    public Task<bool> InsertRowAsync(MembershipEntry entry, TableVersion tableVersion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(tableVersion);
        return WriteAsync(entry, 0, tableVersion, cancellationToken);
    }

    Task<bool> IMembershipTable.UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion) => UpdateRowAsync(entry, etag, tableVersion, CancellationToken.None);

    /// <summary>Replaces the silo's row; false if it is missing or its ETag is not <paramref name="etag"/>, or on a stale version.</summary>
    public Task<bool> UpdateRowAsync(MembershipEntry entry, string etag, TableVersion tableVersion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(tableVersion);
        return long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out var expected) && expected > 0
            ? WriteAsync(entry, expected, tableVersion, cancellationToken)
            : Task.FromResult(false);
    }

    /// <param name="expected">The row's ETag; 0 for an insert (no row).</param>
    private async Task<bool> WriteAsync(MembershipEntry entry, long expected, TableVersion next, CancellationToken cancellationToken)
    {
        // Orleans passes the version read, advanced by one, with the ETag read: the ETag must name the version before.
        var previous = next.Version - 1;
        if (previous < 0 || next.VersionEtag != previous.ToString(CultureInfo.InvariantCulture))
        {
            return false;
        }

        using var budget = Budget(cancellationToken);
        var rowKey = RowKey(entry.SiloAddress);
        if (!await ClaimAsync(previous, rowKey, expected, budget.Token).ConfigureAwait(false))
        {
            return false;
        }

        var item = ToItem(ClusterId, entry, expected + 1, next.Version);
        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.PutItemAsync(new PutItemRequest
            {
                TableName = TableName,
                Item = item,
                ConditionExpression = ExpectETag(expected) + " AND (attribute_not_exists(#tv) OR #tv < :v)",
                ExpressionAttributeNames = ETagNames(),
                ExpressionAttributeValues = ETagValues(expected, next.Version),
            }, ct), budget.Token, _time).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            // A stale ETag, a fence by a reader, or our own write retried after its answer was lost.
            var row = await GetAsync(rowKey, budget.Token).ConfigureAwait(false);
            var landed = ETagOf(row) == expected + 1 && row![TableVersionAttribute].N == item[TableVersionAttribute].N;
            if (!landed)
            {
                LogNotLanded(ClusterId, rowKey, next.Version);
            }

            return landed;
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
                Key = Key(ClusterId, VersionRowKey),
                UpdateExpression = "SET #v = :next, #pr = :row, #pe = :expected",
                ConditionExpression = previous > 0 ? "#v = :previous" : "attribute_not_exists(#v)",
                ExpressionAttributeNames = new() { ["#v"] = VersionAttribute, ["#pr"] = PendingRowAttribute, ["#pe"] = PendingETagAttribute },
                ExpressionAttributeValues = values,
            }, ct), cancellationToken, _time).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            // Another writer claimed it; if it was this one whose answer was lost, its row write never started: false either way.
            return false;
        }
    }

    /// <summary>
    /// Settles the version's pending change for a reader that holds <paramref name="row"/> as read: true if it
    /// had landed there, or now never will (fenced); false if it landed after the row was read, so read again.
    /// </summary>
    private async Task<bool> SettleAsync((string Row, long ETag, int Version) pending, Dictionary<string, AttributeValue>? row, CancellationToken cancellationToken)
    {
        if (ETagOf(row) != pending.ETag)
        {
            // Landed (or the row was deleted since, which no pending write can land on either).
            return true;
        }

        try
        {
            // An UpdateItem creates the row if it is missing: a placeholder without ETag, which readers skip.
            await DynamoDBRetry.RunAsync(ct => _client.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = TableName,
                Key = Key(ClusterId, pending.Row),
                UpdateExpression = "SET #tv = :v",
                // Idempotent (<=), so a retried fence or a second reader fencing the same change passes.
                ConditionExpression = ExpectETag(pending.ETag) + " AND (attribute_not_exists(#tv) OR #tv <= :v)",
                ExpressionAttributeNames = ETagNames(),
                ExpressionAttributeValues = ETagValues(pending.ETag, pending.Version),
            }, ct), cancellationToken, _time).ConfigureAwait(false);
            LogFenced(ClusterId, pending.Row, pending.Version);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Membership table, cluster {ClusterId}: fenced the change of {Row} claimed at version {Version}, which had not landed")]
    private partial void LogFenced(string clusterId, string row, int version);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Membership table, cluster {ClusterId}: the change of {Row} claimed at version {Version} did not land (stale ETag or fenced)")]
    private partial void LogNotLanded(string clusterId, string row, int version);
}
