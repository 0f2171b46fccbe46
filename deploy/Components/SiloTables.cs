namespace Analytics.Deploy.Components;

/// <summary>
/// One DynamoDB table the silos use: its name after <c>DynamoDB:TablePrefix</c>, its key schema
/// (string keys, as the silo would create it), and the API actions the silos call on it, which is
/// all the task role may call on it.
/// </summary>
public sealed record SiloTable(string Id, string Suffix, string PartitionKey, string SortKey, string Purpose, IReadOnlyList<string> Actions);

/// <summary>
/// The silo's four tables, matching our Orleans providers in <c>Providers/</c>: each key schema is
/// that class's <c>TableSpec</c>, and each action list is what that class calls (Tests/Deploy.Tests
/// checks both against the code). DescribeTable is there on every table because with
/// <c>DynamoDB:CreateTables=false</c> the silo checks at start-up that the table exists; CreateTable
/// is on none, since the stack creates them. None has an index, so no index ARN is granted.
/// </summary>
public static class SiloTables
{
    public static readonly SiloTable GrainState = new(
        "GrainState", "grain-state", "PK", "SK", "grain state (DynamoDBGrainStorage)",
        ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]);

    public static readonly SiloTable Membership = new(
        "Membership", "membership", "cluster", "rowKey", "cluster membership (DynamoDBMembershipTable)",
        ["dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]);

    public static readonly SiloTable Leases = new(
        "Leases", "leases", "provider", "leaseKey", "shard leases and checkpoints (DynamoDBShardLeaseTable)",
        ["dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]);

    public static readonly SiloTable DeadLetters = new(
        "DeadLetters", "dead-letters", "store", "letterKey", "dead letters (DynamoDBDeadLetterStore)",
        ["dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Query"]);

    public static IReadOnlyList<SiloTable> All { get; } = [GrainState, Membership, Leases, DeadLetters];

    /// <summary>The Kinesis actions the silos call (KinesisShardDirectory, KinesisShardReader, KinesisRecordPutter), on the one stream.</summary>
    public static IReadOnlyList<string> KinesisActions { get; } = ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:PutRecords"];

    /// <summary>
    /// The KMS actions on the data key: Kinesis needs GenerateDataKey to write encrypted records and
    /// Decrypt to read them; DynamoDB, on a table with a customer managed key, uses the caller's
    /// Encrypt, Decrypt, GenerateDataKey and DescribeKey. Only through those two services (a
    /// kms:ViaService condition), never directly.
    /// </summary>
    public static IReadOnlyList<string> KmsActions { get; } = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"];
}
