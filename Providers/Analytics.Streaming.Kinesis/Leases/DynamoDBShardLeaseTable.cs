using System.Globalization;
using System.Text.RegularExpressions;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;

namespace Analytics.Streaming.Kinesis;

/// <summary>
/// Shard leases in DynamoDB, one row per shard as the Kinesis Client Library keeps them. The lease
/// group (one provider of one service) is the hash key, so that a provider's leases are one
/// consistent Query rather than a Scan, and the shard id is the range key. Every change is one
/// conditional write whose condition is exactly that of <see cref="MemoryShardLeaseTable"/>.
/// </summary>
/// <remarks>
/// A write that landed but whose answer was lost, and was retried, reads as a failed condition: an
/// acquire or renewal then returns null although the row names this owner. That is safe: the
/// caller does not renew it, so the lease expires and is taken again, as KCL leases are.
/// The table (<c>{prefix}leases</c>) has the layout the deploy stack creates.
/// </remarks>
public sealed partial class DynamoDBShardLeaseTable : IShardLeaseTable
{
    public const string TableSuffix = "leases";

    internal const string GroupAttribute = "provider";
    internal const string LeaseKeyAttribute = "leaseKey";
    internal const string OwnerAttribute = "leaseOwner";
    internal const string CounterAttribute = "leaseCounter";
    internal const string CheckpointAttribute = "checkpoint";
    internal const string ParentsAttribute = "parentShardIds";

    private readonly IAmazonDynamoDB _client;
    private readonly DynamoDBOptions _options;

    public DynamoDBShardLeaseTable(IAmazonDynamoDB client, DynamoDBOptions options, string group)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(group);
        _client = client;
        _options = options;
        Group = group;
        TableName = options.TableName(TableSuffix);
    }

    public string Group { get; }

    public string TableName { get; }

    public DynamoDBTableSpec TableSpec => new(TableName, GroupAttribute, LeaseKeyAttribute);

    public Task InitializeAsync(CancellationToken cancellationToken) =>
        DynamoDBTables.PrepareAsync(_client, _options, TableSpec, cancellationToken);

    public async Task<IReadOnlyList<ShardLease>> ListAsync(CancellationToken cancellationToken)
    {
        var leases = new List<ShardLease>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var request = new QueryRequest
            {
                TableName = TableName,
                KeyConditionExpression = "#g = :g",
                ExpressionAttributeNames = new() { ["#g"] = GroupAttribute },
                ExpressionAttributeValues = new() { [":g"] = new AttributeValue { S = Group } },
                ConsistentRead = true,
                ExclusiveStartKey = start,
            };
            var page = await DynamoDBRetry.RunAsync(ct => _client.QueryAsync(request, ct), cancellationToken).ConfigureAwait(false);
            leases.AddRange((page.Items ?? []).Select(ToLease));
            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        return leases;
    }

    public async Task<ShardLease?> ReadAsync(string shard, CancellationToken cancellationToken)
    {
        var response = await DynamoDBRetry.RunAsync(
            ct => _client.GetItemAsync(new GetItemRequest { TableName = TableName, Key = Key(shard), ConsistentRead = true }, ct),
            cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? ToLease(item) : null;
    }

    public async Task CreateIfMissingAsync(ShardInfo shard, CancellationToken cancellationToken)
    {
        var item = Key(shard.Shard);
        item[CounterAttribute] = Number(0);
        if (shard.Parents.Count > 0)
        {
            item[ParentsAttribute] = new AttributeValue { L = [.. shard.Parents.Select(p => new AttributeValue { S = p })] };
        }

        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.PutItemAsync(new PutItemRequest
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

    public Task<ShardLease?> TryAcquireAsync(ShardLease observed, string owner, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        var update = new Update(observed.Shard, "SET #owner = :newOwner, #counter = #counter + :one");
        update.Value(":newOwner", new AttributeValue { S = owner });
        update.Value(":one", Number(1));
        update.ExpectCounter(observed.Counter);
        update.ExpectOwner(observed.Owner);
        return UpdateLeaseAsync(update, cancellationToken);
    }

    public Task<ShardLease?> TryRenewAsync(ShardLease held, CancellationToken cancellationToken)
    {
        var update = new Update(held.Shard, "SET #counter = #counter + :one");
        update.Value(":one", Number(1));
        update.ExpectCounter(held.Counter);
        update.ExpectOwner(held.Owner);
        return UpdateLeaseAsync(update, cancellationToken);
    }

    public async Task<bool> TryCheckpointAsync(string shard, string owner, string checkpoint, CancellationToken cancellationToken)
    {
        // The owner alone guards a checkpoint, not the counter: renewals bump the counter between checkpoints.
        var update = new Update(shard, "SET #checkpoint = :checkpoint");
        update.Name("#checkpoint", CheckpointAttribute);
        update.Value(":checkpoint", new AttributeValue { S = checkpoint });
        update.ExpectOwner(owner);
        return await UpdateLeaseAsync(update, cancellationToken).ConfigureAwait(false) is not null;
    }

    public async Task<bool> TryReleaseAsync(ShardLease held, CancellationToken cancellationToken)
    {
        if (held.Owner is null)
        {
            return false;
        }

        // Bumping the counter fences any acquire or renewal still working from the held lease.
        var update = new Update(held.Shard, "SET #counter = #counter + :one REMOVE #owner");
        update.Value(":one", Number(1));
        update.ExpectOwner(held.Owner);
        return await UpdateLeaseAsync(update, cancellationToken).ConfigureAwait(false) is not null;
    }

    public async Task DeleteAsync(ShardLease ended, CancellationToken cancellationToken)
    {
        try
        {
            await DynamoDBRetry.RunAsync(ct => _client.DeleteItemAsync(new DeleteItemRequest
            {
                TableName = TableName,
                Key = Key(ended.Shard),
                // Only a lease that is still ended: the table's row decides, not the caller's view of it.
                ConditionExpression = "#checkpoint = :end",
                ExpressionAttributeNames = new() { ["#checkpoint"] = CheckpointAttribute },
                ExpressionAttributeValues = new() { [":end"] = new AttributeValue { S = ShardLease.EndCheckpoint } },
            }, ct), cancellationToken).ConfigureAwait(false);
        }
        catch (ConditionalCheckFailedException)
        {
            // Gone already, or not ended.
        }
    }

    private async Task<ShardLease?> UpdateLeaseAsync(Update update, CancellationToken cancellationToken)
    {
        var request = update.ToRequest(TableName, Group);
        try
        {
            var response = await DynamoDBRetry.RunAsync(ct => _client.UpdateItemAsync(request, ct), cancellationToken).ConfigureAwait(false);
            return ToLease(response.Attributes);
        }
        catch (ConditionalCheckFailedException)
        {
            return null;
        }
    }

    private Dictionary<string, AttributeValue> Key(string shard) => Key(Group, shard);

    private static Dictionary<string, AttributeValue> Key(string group, string shard) => new()
    {
        [GroupAttribute] = new AttributeValue { S = group },
        [LeaseKeyAttribute] = new AttributeValue { S = shard },
    };

    private static AttributeValue Number(long value) => new() { N = value.ToString(CultureInfo.InvariantCulture) };

    internal static ShardLease ToLease(Dictionary<string, AttributeValue> item) => new(
        item[LeaseKeyAttribute].S,
        item.TryGetValue(OwnerAttribute, out var owner) ? owner.S : null,
        long.Parse(item[CounterAttribute].N, NumberStyles.Integer, CultureInfo.InvariantCulture),
        item.TryGetValue(CheckpointAttribute, out var checkpoint) ? checkpoint.S : null,
        item.TryGetValue(ParentsAttribute, out var parents) ? ReadParents(parents) : []);

    // Written as a list (order kept), but a string set is read too, for rows written by other tools.
    private static List<string> ReadParents(AttributeValue value) =>
        value.L is { Count: > 0 } list ? [.. list.Select(p => p.S)] : value.SS is { Count: > 0 } set ? [.. set] : [];

    /// <summary>One conditional UpdateItem: its expression, names, values and the conditions gathered so far.</summary>
    private sealed partial class Update(string shard, string expression)
    {
        // Every condition asks for the row to exist, so that an update never creates a row.
        private readonly List<string> _conditions = ["attribute_exists(#k)"];
        private readonly Dictionary<string, string> _names = new()
        {
            ["#k"] = LeaseKeyAttribute,
            ["#owner"] = OwnerAttribute,
            ["#counter"] = CounterAttribute,
        };

        private readonly Dictionary<string, AttributeValue> _values = [];

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

        public UpdateItemRequest ToRequest(string tableName, string group)
        {
            var condition = string.Join(" AND ", _conditions);
            // DynamoDB rejects a request that defines a name its expressions do not use.
            var used = Placeholder().Matches(expression + " " + condition).Select(m => m.Value).ToHashSet();
            return new UpdateItemRequest
            {
                TableName = tableName,
                Key = Key(group, shard),
                UpdateExpression = expression,
                ConditionExpression = condition,
                ExpressionAttributeNames = _names.Where(n => used.Contains(n.Key)).ToDictionary(),
                ExpressionAttributeValues = _values,
                ReturnValues = ReturnValue.ALL_NEW,
            };
        }
    }
}
