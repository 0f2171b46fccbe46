using Analytics.Aws.DynamoDB;

namespace Analytics.Clustering.DynamoDB;

/// <summary>
/// Where the cluster's membership rows live. Both settings default to the service's shared DynamoDB
/// settings (<see cref="DynamoDBOptions"/>), so a silo and a client configured from the same
/// <c>DynamoDB:*</c> keys agree on the table without saying anything here.
/// </summary>
public sealed class DynamoDBClusteringOptions
{
    /// <summary>The suffix after <c>DynamoDB:TablePrefix</c> of the default table, as deploy/ creates it.</summary>
    public const string DefaultTableSuffix = "membership";

    /// <summary>The table's full name; unset means <c>{DynamoDB:TablePrefix}membership</c>.</summary>
    public string? TableName { get; set; }

    /// <summary>Create the table when it is missing; unset means <c>DynamoDB:CreateTables</c>. When false, start-up only checks that it exists.</summary>
    public bool? CreateTable { get; set; }

    /// <summary>
    /// How long one membership call (a read, a change, a heartbeat, a gateway lookup) may keep retrying
    /// throttling and server errors before it fails. Orleans retries a failed membership operation itself,
    /// so this bounds one attempt rather than giving up.
    /// </summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The table name in effect once the shared settings fill in what is unset.</summary>
    public string ResolveTableName(DynamoDBOptions dynamoDB)
    {
        ArgumentNullException.ThrowIfNull(dynamoDB);
        return TableName ?? dynamoDB.TableName(DefaultTableSuffix);
    }

    /// <summary>The create-table flag in effect once the shared settings fill in what is unset.</summary>
    public bool ResolveCreateTable(DynamoDBOptions dynamoDB)
    {
        ArgumentNullException.ThrowIfNull(dynamoDB);
        return CreateTable ?? dynamoDB.CreateTables;
    }
}
