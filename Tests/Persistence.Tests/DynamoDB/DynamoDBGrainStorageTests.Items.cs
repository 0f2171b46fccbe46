using Amazon.DynamoDBv2.Model;

namespace Analytics.Persistence.Tests;

/// <summary>What is in the table, read behind the provider's back.</summary>
public sealed partial class DynamoDBGrainStorageTests
{
    private async Task<List<string>> RangeKeysAsync()
    {
        // A Query page stops at 1 MB of items, and chunks are large: follow the pages.
        var keys = new List<string>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var response = await _client.QueryAsync(new QueryRequest
            {
                TableName = TableName,
                KeyConditionExpression = "PK = :k",
                ExpressionAttributeValues = new() { [":k"] = new() { S = PartitionKey } },
                ProjectionExpression = "SK",
                ConsistentRead = true,
                ExclusiveStartKey = start,
            });
            keys.AddRange((response.Items ?? []).Select(i => i["SK"].S));
            start = response.LastEvaluatedKey is { Count: > 0 } last ? last : null;
        }
        while (start is not null);

        return keys.Order(StringComparer.Ordinal).ToList();
    }

    private async Task<List<string>> ChunkKeysAsync() => (await RangeKeysAsync()).Where(k => k.StartsWith("c#", StringComparison.Ordinal)).ToList();

    private async Task<Dictionary<string, AttributeValue>?> HeadItemAsync()
    {
        var head = await _client.GetItemAsync(new GetItemRequest
        {
            TableName = TableName,
            Key = new() { ["PK"] = new() { S = PartitionKey }, ["SK"] = new() { S = "head" } },
            ConsistentRead = true,
        });
        return head.Item is { Count: > 0 } item ? item : null;
    }

    private async Task<List<string>> ReferencedChunksAsync() =>
        ((await HeadItemAsync())?.GetValueOrDefault("C")?.L ?? []).Select(v => v.S).Distinct().Order(StringComparer.Ordinal).ToList();
}
