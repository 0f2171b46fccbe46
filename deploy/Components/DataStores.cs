using Amazon.CDK;
using Amazon.CDK.AWS.DynamoDB;
using Amazon.CDK.AWS.Kinesis;
using Amazon.CDK.AWS.KMS;
using Constructs;
using Attribute = Amazon.CDK.AWS.DynamoDB.Attribute;
using Stream = Amazon.CDK.AWS.Kinesis.Stream;

namespace Analytics.Deploy.Components;

/// <summary>
/// Everything that holds data: the Kinesis stream of events, the silo's DynamoDB tables and the KMS
/// key that encrypts both. All of it is retained: <c>cdk destroy</c> removes the compute and the
/// network but keeps the events, the aggregates, the checkpoints and the dead letters, and the key
/// they cannot be read without.
/// </summary>
public sealed class DataStores : Construct
{
    /// <summary>Kinesis' default; an unread iterator age past half of it is an alarm long before data is lost.</summary>
    public static readonly Duration StreamRetention = Duration.Hours(24);

    public DataStores(Construct scope, string id, DeployParameters parameters)
        : base(scope, id)
    {
        Key = new Key(this, "Key", new KeyProps
        {
            Description = $"Encrypts the {parameters.StackName} event stream and tables",
            EnableKeyRotation = true,
            RemovalPolicy = RemovalPolicy.RETAIN,
        });

        Stream = new Stream(this, "Events", new StreamProps
        {
            StreamName = parameters.ResourcePrefix + "events",
            StreamMode = StreamMode.PROVISIONED,
            ShardCount = parameters.ShardCount,
            RetentionPeriod = StreamRetention,
            Encryption = StreamEncryption.KMS,
            EncryptionKey = Key,
        });
        Stream.ApplyRemovalPolicy(RemovalPolicy.RETAIN);

        TablePrefix = parameters.ResourcePrefix;
        Tables = SiloTables.All.ToDictionary(t => t, t => new Table(this, t.Id, new TableProps
        {
            // The silo derives each name from DynamoDB:TablePrefix, so the names are fixed here.
            TableName = TablePrefix + t.Suffix,
            PartitionKey = new Attribute { Name = t.PartitionKey, Type = AttributeType.STRING },
            SortKey = new Attribute { Name = t.SortKey, Type = AttributeType.STRING },
            BillingMode = BillingMode.PAY_PER_REQUEST,
            PointInTimeRecovery = true,
            Encryption = TableEncryption.CUSTOMER_MANAGED,
            EncryptionKey = Key,
            RemovalPolicy = RemovalPolicy.RETAIN,
            DeletionProtection = true,
        }));
    }

    public Key Key { get; }

    public Stream Stream { get; }

    /// <summary>The value of the silo's <c>DynamoDB:TablePrefix</c>: every table's name starts with it.</summary>
    public string TablePrefix { get; }

    public IReadOnlyDictionary<SiloTable, Table> Tables { get; }
}
