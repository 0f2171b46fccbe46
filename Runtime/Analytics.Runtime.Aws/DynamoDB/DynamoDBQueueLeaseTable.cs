using Analytics.Aws.DynamoDB;
using System.Globalization;
using System.Text.RegularExpressions;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.Leases;

namespace Analytics.Runtime.Aws.DynamoDB;

/// <summary>
/// Queue leases in DynamoDB, one row per queue as the Kinesis Client Library keeps them: the provider
/// is the hash key (so that a provider's leases are one consistent Query, not a Scan) and the queue
/// name the range key. Every change is one conditional write whose condition is exactly that of
/// <see cref="MemoryQueueLeaseTable"/>; a failed condition is an answer (null or false), never an exception.
/// </summary>
/// <remarks>
/// A write that succeeded but whose answer was lost, and was retried, reads as a failed condition:
/// an acquire or renewal then returns null although the row names this owner. That is safe: the
/// caller does not renew it, so the lease expires and is taken again, as KCL leases do.
/// </remarks>
public sealed partial class DynamoDBQueueLeaseTable(IAmazonDynamoDB client, DynamoDBOptions options) : IQueueLeaseTable
{
    public const string TableSuffix = "leases";

    internal const string ProviderAttribute = "provider";
    internal const string LeaseKeyAttribute = "leaseKey";
    internal const string OwnerAttribute = "leaseOwner";
    internal const string CounterAttribute = "leaseCounter";
    internal const string CheckpointAttribute = "checkpoint";
    internal const string ParentsAttribute = "parentShardIds";

    public string TableName { get; } = options.TableName(TableSuffix);

    public DynamoDBTableSpec TableSpec => new(TableName, ProviderAttribute, LeaseKeyAttribute);

    public Task InitializeAsync(CancellationToken cancellationToken) =>
        DynamoDBTables.PrepareAsync(client, options, TableSpec, cancellationToken);

    public async Task<IReadOnlyList<QueueLease>> ListAsync(string provider, CancellationToken cancellationToken)
    {
        var leases = new List<QueueLease>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var request = new QueryRequest
            {
                TableName = TableName,
                KeyConditionExpression = "#p = :p",
                ExpressionAttributeNames = new() { ["#p"] = ProviderAttribute },
                ExpressionAttributeValues = new() { [":p"] = new AttributeValue { S = provider } },
                ConsistentRead = true,
                ExclusiveStartKey = start,
            };
            var page = await DynamoDBRetry.RunAsync(ct => client.QueryAsync(request, ct), cancellationToken).ConfigureAwait(false);
            leases.AddRange((page.Items ?? []).Select(ToLease));
            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        return leases;
    }

    public async Task CreateIfMissingAsync(QueueInfo queue, CancellationToken cancellationToken)
    {
        var item = Key(queue.Queue);
        item[CounterAttribute] = Number(0);
        if (queue.Parents.Count > 0)
        {
            item[ParentsAttribute] = new AttributeValue { L = [.. queue.Parents.Select(p => new AttributeValue { S = p })] };
        }

        try
        {
            await DynamoDBRetry.RunAsync(ct => client.PutItemAsync(new PutItemRequest
            {
                TableName = TableName,
                Item = item,
                // Never overwrites a row: an existing lease keeps its owner, counter and checkpoint.
                ConditionExpression = "attribute_not_exists(#k)",
                ExpressionAttributeNames = new() { ["#k"] = LeaseKeyAttribute },
            }, ct), cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            // It exists already.
        }
    }

    public Task<QueueLease?> TryAcquireAsync(QueueLease observed, string owner, CancellationToken cancellationToken)
    {
        var update = new Update(observed.Queue, "SET #owner = :newOwner, #counter = #counter + :one");
        update.Value(":newOwner", new AttributeValue { S = owner });
        update.Value(":one", Number(1));
        update.ExpectCounter(observed.Counter);
        update.ExpectOwner(observed.Owner);
        return UpdateLeaseAsync(update, cancellationToken);
    }

    public Task<QueueLease?> TryRenewAsync(QueueLease held, CancellationToken cancellationToken)
    {
        var update = new Update(held.Queue, "SET #counter = #counter + :one");
        update.Value(":one", Number(1));
        update.ExpectCounter(held.Counter);
        update.ExpectOwner(held.Owner);
        return UpdateLeaseAsync(update, cancellationToken);
    }

    public async Task<bool> TryCheckpointAsync(QueueId queue, string owner, string checkpoint, CancellationToken cancellationToken)
    {
        // The owner alone guards a checkpoint, not the counter: renewals bump the counter between checkpoints.
        var update = new Update(queue, "SET #checkpoint = :checkpoint");
        update.Name("#checkpoint", CheckpointAttribute);
        update.Value(":checkpoint", new AttributeValue { S = checkpoint });
        update.ExpectOwner(owner);
        return await UpdateLeaseAsync(update, cancellationToken).ConfigureAwait(false) is not null;
    }

    public async Task<bool> TryReleaseAsync(QueueLease held, CancellationToken cancellationToken)
    {
        // Bumping the counter fences any acquire or renewal still working from the held lease.
        var update = new Update(held.Queue, "SET #counter = #counter + :one REMOVE #owner");
        update.Value(":one", Number(1));
        update.ExpectOwner(held.Owner);
        return await UpdateLeaseAsync(update, cancellationToken).ConfigureAwait(false) is not null;
    }

    public async Task DeleteAsync(QueueLease ended, CancellationToken cancellationToken)
    {
        try
        {
            await DynamoDBRetry.RunAsync(ct => client.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = TableName,
                Key = Key(ended.Queue),
                // Only a lease that is still ended: a queue that somehow came back keeps its row.
                ConditionExpression = "#checkpoint = :end",
                ExpressionAttributeNames = new() { ["#checkpoint"] = CheckpointAttribute },
                ExpressionAttributeValues = new() { [":end"] = new AttributeValue { S = QueueLease.EndCheckpoint } },
            }, ct), cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            // Gone already, or not ended.
        }
    }

    private async Task<QueueLease?> UpdateLeaseAsync(Update update, CancellationToken cancellationToken)
    {
        var request = update.ToRequest(TableName);
        try
        {
            var response = await DynamoDBRetry.RunAsync(ct => client.UpdateItemAsync(request, ct), cancellationToken).ConfigureAwait(false);
            return ToLease(response.Attributes);
        }
        catch (ConditionalCheckFailedException)
        {
            return null;
        }
    }

    private static Dictionary<string, AttributeValue> Key(QueueId queue) => new()
    {
        [ProviderAttribute] = new AttributeValue { S = queue.Provider },
        [LeaseKeyAttribute] = new AttributeValue { S = queue.Name },
    };

    private static AttributeValue Number(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };

    internal static QueueLease ToLease(Dictionary<string, AttributeValue> item) => new(
        new QueueId(item[ProviderAttribute].S, item[LeaseKeyAttribute].S),
        item.TryGetValue(OwnerAttribute, out var owner) ? owner.S : null,
        long.Parse(item[CounterAttribute].N, NumberStyles.Integer, CultureInfo.InvariantCulture),
        item.TryGetValue(CheckpointAttribute, out var checkpoint) ? checkpoint.S : null,
        item.TryGetValue(ParentsAttribute, out var parents) ? ReadParents(parents) : []);

    // Written as a list (order kept), but a string set is read too, for rows written by other tools.
    private static List<string> ReadParents(AttributeValue value) =>
        value.L is { } list ? [.. list.Select(p => p.S)] : value.SS is { } set ? [.. set] : [];

    /// <summary>One conditional UpdateItem: its expression, names, values and the conditions gathered so far.</summary>
    private sealed partial class Update
    {
        private readonly QueueId _queue;
        private readonly string _expression;
        // Every condition asks for the row to exist, so that an update never creates a row.
        private readonly List<string> _conditions = ["attribute_exists(#k)"];
        private readonly Dictionary<string, string> _names = new()
        {
            ["#k"] = LeaseKeyAttribute,
            ["#owner"] = OwnerAttribute,
            ["#counter"] = CounterAttribute,
        };

        private readonly Dictionary<string, AttributeValue> _values = [];

        public Update(QueueId queue, string expression)
        {
            _queue = queue;
            _expression = expression;
        }

        [GeneratedRegex(@"#\w+")]
        private static partial Regex Placeholder();

        public void Name(string placeholder, string attribute) => _names[placeholder] = attribute;

        public void Value(string placeholder, AttributeValue value) => _values[placeholder] = value;

        public void ExpectCounter(long counter)
        {
            _conditions.Add("#counter = :expectedCounter");
            _values[":expectedCounter"] = Number(counter);
        }

        /// <summary>The owner must be the given one; null means the lease must be free (no owner attribute at all).</summary>
        public void ExpectOwner(string? owner)
        {
            if (owner is null)
            {
                _conditions.Add("attribute_not_exists(#owner)");
            }
            else
            {
                _conditions.Add("#owner = :expectedOwner");
                _values[":expectedOwner"] = new AttributeValue { S = owner };
            }
        }

        public UpdateItemRequest ToRequest(string tableName)
        {
            var condition = string.Join(" AND ", _conditions);
            // DynamoDB rejects a request that defines a name its expressions do not use.
            var used = Placeholder().Matches(_expression + " " + condition).Select(m => m.Value).ToHashSet();
            return new UpdateItemRequest
            {
                TableName = tableName,
                Key = Key(_queue),
                UpdateExpression = _expression,
                ConditionExpression = condition,
                ExpressionAttributeNames = _names.Where(n => used.Contains(n.Key)).ToDictionary(),
                ExpressionAttributeValues = _values,
                ReturnValues = ReturnValue.ALL_NEW,
            };
        }
    }
}
