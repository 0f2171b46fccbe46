using Analytics.Aws.DynamoDB;
using Amazon.DynamoDBv2.Model;
using Analytics.Runtime.Membership;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Aws.DynamoDB;

/// <summary>
/// Deleting the rows of defunct silos. A delete is one conditional single-item write outside the
/// fence/claim/land protocol: it neither claims nor fences a version, because a Dead row places nothing.
/// It cannot disturb that protocol either. A change claimed on the row before the delete cannot land
/// afterwards (its write expects the row's ETag, and a missing row has none), so it answers false as
/// for any lost race; and readers take a pending change whose row is gone for landed, which it is
/// as far as anybody can tell, since nothing can land on that row any more.
/// </summary>
public sealed partial class DynamoDBMembershipTable
{
    public async Task<int> CleanupDefunctSiloEntriesAsync(DateTimeOffset beforeDate, CancellationToken cancellationToken)
    {
        // Only this cluster's silo rows (the Query of ReadAllAsync), never the version row or a fence's placeholder.
        var snapshot = await ReadAllAsync(cancellationToken).ConfigureAwait(false);
        var deleted = 0;
        foreach (var (entry, etag) in snapshot.Entries)
        {
            var lastSignOfLife = entry.IAmAliveTime > entry.StartTime ? entry.IAmAliveTime : entry.StartTime;
            if (entry.Status == SiloStatus.Dead && lastSignOfLife < beforeDate
                && await DeleteDeadRowAsync(RowKey(entry.Silo), ParseETag(etag), cancellationToken).ConfigureAwait(false))
            {
                deleted++;
            }
        }

        return deleted;
    }

    /// <summary>Deletes the row if it is still Dead with the ETag read; false if it changed or is already gone.</summary>
    private async Task<bool> DeleteDeadRowAsync(string rowKey, long expected, CancellationToken cancellationToken)
    {
        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = TableName,
                Key = Key(rowKey),
                // Heartbeats leave the ETag alone, so a zombie's heartbeat does not save its row; any real change does.
                ConditionExpression = "#s = :dead AND #e = :e",
                ExpressionAttributeNames = new() { ["#s"] = StatusAttribute, ["#e"] = ETagAttribute },
                ExpressionAttributeValues = new() { [":dead"] = S(nameof(SiloStatus.Dead)), [":e"] = N(expected) },
            }, ct), cancellationToken).ConfigureAwait(false);
            LogDeletedDefunct(ClusterId, rowKey);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            // Changed since read, or deleted by another silo's cleanup (or by this delete, retried after its
            // answer was lost: then the count is one short, which only the log sees).
            return false;
        }
    }

    private static long ParseETag(string etag) => long.Parse(etag, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Membership table, cluster {ClusterId}: deleted the defunct row {Row}")]
    private partial void LogDeletedDefunct(string clusterId, string row);
}
