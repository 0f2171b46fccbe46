using System.Collections.Concurrent;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;

namespace Analytics.Persistence.DynamoDB;

/// <summary>The multi-item calls: batches within the service's limits, and what it left unprocessed tried again until done.</summary>
public sealed partial class DynamoDBGrainStorage
{
    /// <summary>BatchWriteItem takes at most 25 items (and 16 MB: 25 chunks of at most 380 KB stay well below).</summary>
    private const int WriteBatchSize = 25;

    /// <summary>Batches of one state in flight at once: enough to hide latency, few enough not to hog the client's connections.</summary>
    private const int BatchParallelism = 8;

    private async Task BatchWriteAsync(List<WriteRequest> requests, CancellationToken cancellationToken)
    {
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = BatchParallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(requests.Chunk(WriteBatchSize), parallel, async (batch, ct) =>
        {
            var pending = batch.ToList();
            for (var attempt = 1; pending.Count > 0; attempt++)
            {
                if (attempt > 1)
                {
                    // Unprocessed items mean the table is throttling this partition: back off as for throttling.
                    await Task.Delay(DynamoDBRetry.Delay(attempt - 1), _time, ct).ConfigureAwait(false);
                }

                var request = new BatchWriteItemRequest { RequestItems = new() { [TableName] = pending } };
                var response = await DynamoDBRetry.RunAsync(c => _client.BatchWriteItemAsync(request, c), ct, _time).ConfigureAwait(false);
                pending = response.UnprocessedItems?.GetValueOrDefault(TableName) ?? [];
            }
        }).ConfigureAwait(false);
    }

    /// <summary>Strongly consistent reads of the given items; items that do not exist are simply not returned.</summary>
    private async Task<List<Dictionary<string, AttributeValue>>> BatchGetAsync(List<Dictionary<string, AttributeValue>> keys, CancellationToken cancellationToken)
    {
        var items = new ConcurrentBag<Dictionary<string, AttributeValue>>();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = BatchParallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(keys.Chunk(_options.ReadBatchSize), parallel, async (batch, ct) =>
        {
            var pending = batch.ToList();
            for (var attempt = 1; pending.Count > 0; attempt++)
            {
                if (attempt > 1)
                {
                    await Task.Delay(DynamoDBRetry.Delay(attempt - 1), _time, ct).ConfigureAwait(false);
                }

                var request = new BatchGetItemRequest
                {
                    RequestItems = new() { [TableName] = new KeysAndAttributes { Keys = pending, ConsistentRead = true } },
                };
                var response = await DynamoDBRetry.RunAsync(c => _client.BatchGetItemAsync(request, c), ct, _time).ConfigureAwait(false);
                foreach (var item in response.Responses?.GetValueOrDefault(TableName) ?? [])
                {
                    items.Add(item);
                }

                // What did not fit in the 16 MB of one answer comes back as unprocessed keys too.
                pending = response.UnprocessedKeys?.GetValueOrDefault(TableName)?.Keys ?? [];
            }
        }).ConfigureAwait(false);
        return [.. items];
    }

    /// <summary>
    /// The range keys under a hash key that start with a prefix. Eventually consistent (half the
    /// price): it looks for leftovers of earlier writers, which are long visible.
    /// </summary>
    private async Task<List<string>> QueryRangeKeysAsync(string key, string prefix, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var request = new QueryRequest
            {
                TableName = TableName,
                KeyConditionExpression = "#k = :k AND begins_with(#r, :p)",
                ExpressionAttributeNames = new() { ["#k"] = HashKey, ["#r"] = RangeKey },
                ExpressionAttributeValues = new() { [":k"] = new() { S = key }, [":p"] = new() { S = prefix } },
                ProjectionExpression = "#r",
                ExclusiveStartKey = start,
            };
            var response = await DynamoDBRetry.RunAsync(c => _client.QueryAsync(request, c), cancellationToken, _time).ConfigureAwait(false);
            keys.AddRange((response.Items ?? []).Select(item => item[RangeKey].S));
            start = response.LastEvaluatedKey is { Count: > 0 } last ? last : null;
        }
        while (start is not null);

        return keys;
    }
}
