using System.Text.Json.Nodes;
using Amazon.CDK.Assertions;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Analytics.Deploy.Components;
using Analytics.Aws.DynamoDB;
using Analytics.Clustering.DynamoDB;
using Analytics.Persistence.DynamoDB;
using Analytics.Streaming.Kinesis;

namespace Analytics.Deploy.Tests;

/// <summary>The stream and the tables: keys, billing, recovery, encryption, and that <c>cdk destroy</c> keeps them.</summary>
[Collection(StackCollection.Name)]
public sealed class DataTests(DefaultStack stack)
{
    public static TheoryData<string> Tables => new(SiloTables.All.Select(t => t.Suffix));

    [Theory]
    [MemberData(nameof(Tables))]
    public void Each_table_has_the_key_schema_the_silo_code_uses(string suffix)
    {
        var spec = RuntimeTableSpecs().Single(s => s.Name == "analytics-prod-" + suffix);
        Assert.NotNull(spec.RangeKey);
        stack.Template.HasResourceProperties("AWS::DynamoDB::Table", new Dictionary<string, object>
        {
            ["TableName"] = spec.Name,
            ["KeySchema"] = new object[]
            {
                new Dictionary<string, object> { ["AttributeName"] = spec.HashKey, ["KeyType"] = "HASH" },
                new Dictionary<string, object> { ["AttributeName"] = spec.RangeKey!, ["KeyType"] = "RANGE" },
            },
            ["AttributeDefinitions"] = new object[]
            {
                new Dictionary<string, object> { ["AttributeName"] = spec.HashKey, ["AttributeType"] = "S" },
                new Dictionary<string, object> { ["AttributeName"] = spec.RangeKey!, ["AttributeType"] = "S" },
            },
            // The silo queries no index, so the stack makes none.
            ["GlobalSecondaryIndexes"] = Match.Absent(),
            ["LocalSecondaryIndexes"] = Match.Absent(),
        });
    }

    [Fact]
    public void There_are_exactly_the_four_tables_the_silo_uses()
    {
        stack.Template.ResourceCountIs("AWS::DynamoDB::Table", 4);
        var names = stack.Resources("AWS::DynamoDB::Table").Values.Select(t => (string)t["Properties"]!["TableName"]!).Order();
        Assert.Equal(RuntimeTableSpecs().Select(s => s.Name).Order(), names);
    }

    [Theory]
    [MemberData(nameof(Tables))]
    public void Each_table_is_on_demand_with_point_in_time_recovery_and_encrypted_with_the_stack_key(string suffix)
    {
        stack.Template.HasResourceProperties("AWS::DynamoDB::Table", new Dictionary<string, object>
        {
            ["TableName"] = "analytics-prod-" + suffix,
            ["BillingMode"] = "PAY_PER_REQUEST",
            ["ProvisionedThroughput"] = Match.Absent(),
            ["PointInTimeRecoverySpecification"] = new Dictionary<string, object> { ["PointInTimeRecoveryEnabled"] = true },
            ["SSESpecification"] = new Dictionary<string, object>
            {
                ["SSEEnabled"] = true,
                ["SSEType"] = "KMS",
                ["KMSMasterKeyId"] = new Dictionary<string, object> { ["Fn::GetAtt"] = new object[] { KeyId, "Arn" } },
            },
            ["DeletionProtectionEnabled"] = true,
        });
    }

    [Theory]
    [MemberData(nameof(Tables))]
    public void Each_table_survives_cdk_destroy(string suffix)
    {
        stack.Template.HasResource("AWS::DynamoDB::Table", new Dictionary<string, object>
        {
            ["Properties"] = Match.ObjectLike(new Dictionary<string, object> { ["TableName"] = "analytics-prod-" + suffix }),
            ["DeletionPolicy"] = "Retain",
            ["UpdateReplacePolicy"] = "Retain",
        });
    }

    [Fact]
    public void The_stream_is_encrypted_with_the_stack_key_has_the_configured_shards_and_is_retained()
    {
        stack.Template.ResourceCountIs("AWS::Kinesis::Stream", 1);
        stack.Template.HasResource("AWS::Kinesis::Stream", new Dictionary<string, object>
        {
            ["Properties"] = new Dictionary<string, object>
            {
                ["Name"] = "analytics-prod-events",
                ["ShardCount"] = 6,
                ["RetentionPeriodHours"] = 24,
                ["StreamModeDetails"] = new Dictionary<string, object> { ["StreamMode"] = "PROVISIONED" },
                ["StreamEncryption"] = new Dictionary<string, object>
                {
                    ["EncryptionType"] = "KMS",
                    ["KeyId"] = new Dictionary<string, object> { ["Fn::GetAtt"] = new object[] { KeyId, "Arn" } },
                },
            },
            ["DeletionPolicy"] = "Retain",
            ["UpdateReplacePolicy"] = "Retain",
        });
    }

    [Fact]
    public void The_key_rotates_and_is_retained_since_the_retained_data_cannot_be_read_without_it()
    {
        stack.Template.ResourceCountIs("AWS::KMS::Key", 1);
        stack.Template.HasResource("AWS::KMS::Key", new Dictionary<string, object>
        {
            ["Properties"] = Match.ObjectLike(new Dictionary<string, object> { ["EnableKeyRotation"] = true }),
            ["DeletionPolicy"] = "Retain",
            ["UpdateReplacePolicy"] = "Retain",
        });
    }

    [Fact]
    public void The_stream_name_and_table_prefix_are_what_the_silo_is_given()
    {
        var environment = ServiceTests.ContainerEnvironment(stack);
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.Ref(stack.LogicalId(stack.Stack.Data.Stream)), environment["Kinesis__StreamName"]));
        Assert.Equal("analytics-prod-", (string?)environment["DynamoDB__TablePrefix"]);
    }

    private string KeyId => stack.LogicalId(stack.Stack.Data.Key);

    /// <summary>The key schemas as the silo's own DynamoDB classes define them, with the stack's prefix.</summary>
    internal static IReadOnlyList<DynamoDBTableSpec> RuntimeTableSpecs()
    {
        var options = new DynamoDBOptions { TablePrefix = "analytics-prod-" };
        // Only to construct the classes: nothing is ever sent.
        using var client = new AmazonDynamoDBClient(new BasicAWSCredentials("unused", "unused"), Amazon.RegionEndpoint.USEast1);
        return
        [
            DynamoDBGrainStorage.TableSpecFor(options),
            DynamoDBMembershipTable.TableSpecFor(options),
            new DynamoDBShardLeaseTable(client, options, "unused").TableSpec,
            new DynamoDBDeadLetterStore(client, options, "unused").TableSpec,
        ];
    }
}
