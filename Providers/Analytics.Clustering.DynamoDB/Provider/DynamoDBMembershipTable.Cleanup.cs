using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using static Analytics.Clustering.DynamoDB.MembershipRow;

namespace Analytics.Clustering.DynamoDB;

/// <summary>
/// Deleting rows. A delete is one conditional single-item write outside the claim/land protocol: it
/// neither claims nor fences a version. It cannot disturb that protocol either: a change claimed on a row
/// before its delete cannot land afterwards (its write expects the row's ETag, which a missing row lacks,
/// or, for an insert, a <c>tableVersion</c> below its claim, which a fence's placeholder never loses since
/// placeholders are not deleted here); and readers take a pending change whose row is gone for settled.
/// </summary>
public sealed partial class DynamoDBMembershipTable
{
    Task IMembershipTable.CleanupDefunctSiloEntries(DateTimeOffset beforeDate) => CleanupDefunctSiloEntriesAsync(beforeDate, CancellationToken.None);

    public Task CleanupDefunctSiloEntriesAsync(DateTimeOffset beforeDate, CancellationToken cancellationToken) =>
        CleanupDefunctSiloEntriesCountAsync(beforeDate, cancellationToken);

    /// <summary>
    /// Deletes the rows of silos that are not Active and showed no sign of life (start, heartbeat or a vote
    /// against them) before <paramref name="beforeDate"/>: the rule of Orleans' own providers, which also
    /// removes silos that died before anyone declared them dead. Returns how many this call deleted.
    /// </summary>
    internal async Task<int> CleanupDefunctSiloEntriesCountAsync(DateTimeOffset beforeDate, CancellationToken cancellationToken)
    {
        var snapshot = await ReadAllAsync(cancellationToken).ConfigureAwait(false);
        using var budget = Budget(cancellationToken);
        var deleted = 0;
        foreach (var (entry, etag) in snapshot.Members)
        {
            if (entry.Status != SiloStatus.Active && LastUpdateUtc(entry) < beforeDate.UtcDateTime
                && await DeleteDefunctRowAsync(RowKey(entry.SiloAddress), etag, budget.Token).ConfigureAwait(false))
            {
                deleted++;
            }
        }

        if (deleted > 0)
        {
            LogDeletedDefunct(ClusterId, deleted, beforeDate);
        }

        return deleted;
    }

    /// <summary>Deletes the row if its ETag is still the one read (so no change since); false if it changed or is already gone.</summary>
    private async Task<bool> DeleteDefunctRowAsync(string rowKey, string etag, CancellationToken cancellationToken)
    {
        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = TableName,
                Key = Key(ClusterId, rowKey),
                // Heartbeats leave the ETag alone, so a zombie's heartbeat does not save its row; any real change does.
                ConditionExpression = "#e = :e AND #s <> :active",
                ExpressionAttributeNames = new() { ["#e"] = ETagAttribute, ["#s"] = StatusAttribute },
                ExpressionAttributeValues = new() { [":e"] = new AttributeValue { N = etag }, [":active"] = S(nameof(SiloStatus.Active)) },
            }, ct), cancellationToken, _time).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            // Changed since read, or deleted by another silo's cleanup (or by this delete, retried after its
            // answer was lost: then the count is one short, which only the log sees).
            return false;
        }
    }

    Task IMembershipTable.DeleteMembershipTableEntries(string clusterId) => DeleteMembershipTableEntriesAsync(clusterId, CancellationToken.None);

    /// <summary>
    /// Deletes every item of <paramref name="clusterId"/> (any cluster's, not only this table's), the version
    /// row and fences' placeholders included, so that the cluster starts again at version 0. Meant for a
    /// cluster no silo runs in any more: a silo still writing could land a change claimed before the delete,
    /// and a snapshot read before it could match the restarted version numbers.
    /// </summary>
    public async Task DeleteMembershipTableEntriesAsync(string clusterId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        using var budget = Budget(cancellationToken);
        var deleted = 0;
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var request = new QueryRequest
            {
                TableName = TableName,
                KeyConditionExpression = "#c = :c",
                ProjectionExpression = "#c, #k",
                ExpressionAttributeNames = new() { ["#c"] = ClusterAttribute, ["#k"] = RowKeyAttribute },
                ExpressionAttributeValues = new() { [":c"] = S(clusterId) },
                ConsistentRead = true,
                ExclusiveStartKey = start,
            };
            var page = await DynamoDBRetry.RunAsync(ct => _client.QueryAsync(request, ct), budget.Token, _time).ConfigureAwait(false);
            // One DeleteItem each rather than BatchWriteItem: the task role is granted only the single-item calls (deploy/).
            foreach (var item in page.Items ?? [])
            {
                await DynamoDBRetry.RunAsync(ct => _client.DeleteItemAsync(new DeleteItemRequest
                {
                    TableName = TableName,
                    Key = Key(clusterId, item[RowKeyAttribute].S),
                }, ct), budget.Token, _time).ConfigureAwait(false);
                deleted++;
            }

            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        LogDeletedCluster(clusterId, deleted);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Membership table, cluster {ClusterId}: deleted {Count} defunct rows last seen before {BeforeDate}")]
    private partial void LogDeletedDefunct(string clusterId, int count, DateTimeOffset beforeDate);

    [LoggerMessage(Level = LogLevel.Information, Message = "Membership table: deleted the {Count} items of cluster {ClusterId}")]
    private partial void LogDeletedCluster(string clusterId, int count);
}
