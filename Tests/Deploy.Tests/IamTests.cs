using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Analytics.Deploy.Components;

namespace Analytics.Deploy.Tests;

/// <summary>
/// Least privilege: the task role may call exactly the Kinesis, DynamoDB and KMS actions the silo's
/// code calls, each on its own resource, and no policy in the stack has a wildcard action or a
/// wildcard resource beyond the one AWS requires.
/// </summary>
[Collection(StackCollection.Name)]
public sealed partial class IamTests(DefaultStack stack)
{
    [Fact]
    public void The_task_role_has_one_policy_and_no_managed_policies()
    {
        var role = stack.Properties(TaskRoleId);
        Assert.Null(role["ManagedPolicyArns"]);
        Assert.Null(role["Policies"]);
        Assert.Single(PoliciesOf(TaskRoleId));
    }

    [Fact]
    public void The_task_role_may_call_only_the_silos_Kinesis_actions_on_the_one_stream()
    {
        var statement = TaskStatement("EventStream");
        Assert.Equal(["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:PutRecords"], Actions(statement));
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.GetAtt(stack.LogicalId(stack.Stack.Data.Stream), "Arn"), statement["Resource"]));
        Assert.Null(statement["Condition"]);
    }

    [Theory]
    [InlineData("GrainState", new[] { "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query" })]
    [InlineData("Membership", new[] { "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem" })]
    [InlineData("Leases", new[] { "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem" })]
    [InlineData("DeadLetters", new[] { "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:Query" })]
    public void The_task_role_may_call_on_each_table_only_the_actions_the_silo_calls_on_it(string table, string[] actions)
    {
        var statement = TaskStatement("Table" + table);
        Assert.Equal(actions, Actions(statement));
        var resource = stack.Stack.Data.Tables.Single(t => t.Key.Id == table).Value;
        // The table itself: it has no index, so no index ARN is granted either.
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.GetAtt(stack.LogicalId(resource), "Arn"), statement["Resource"]));
    }

    [Fact]
    public void The_task_role_may_use_only_the_stacks_key_and_only_through_Kinesis_and_DynamoDB()
    {
        var statement = TaskStatement("DataKey");
        Assert.Equal(["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], Actions(statement));
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.GetAtt(stack.LogicalId(stack.Stack.Data.Key), "Arn"), statement["Resource"]));
        var services = statement["Condition"]!["StringEquals"]!["kms:ViaService"]!.AsArray().Select(s => s!.ToJsonString()).ToList();
        Assert.Equal(2, services.Count);
        Assert.Contains("\"kinesis.\"", services[0], StringComparison.Ordinal);
        Assert.Contains("\"dynamodb.\"", services[1], StringComparison.Ordinal);
    }

    [Fact]
    public void The_task_policy_has_exactly_those_six_statements()
    {
        Assert.Equal(["DataKey", "EventStream", "TableDeadLetters", "TableGrainState", "TableLeases", "TableMembership"], TaskStatements().Select(s => (string)s["Sid"]!).Order());
        Assert.All(TaskStatements(), s => Assert.Equal("Allow", (string?)s["Effect"]));
    }

    [Fact]
    public void No_policy_in_the_stack_has_a_wildcard_action_and_only_ecr_GetAuthorizationToken_has_a_wildcard_resource()
    {
        var statements = stack.Resources("AWS::IAM::Policy").Values
            .SelectMany(p => p["Properties"]!["PolicyDocument"]!["Statement"]!.AsArray())
            .Select(s => s!.AsObject())
            .ToList();
        Assert.NotEmpty(statements);
        foreach (var statement in statements)
        {
            Assert.All(Actions(statement), action => Assert.DoesNotContain("*", action, StringComparison.Ordinal));
            Assert.Null(statement["NotAction"]);
            Assert.Null(statement["NotResource"]);
            if (Resources(statement).Any(r => r.ToJsonString() == "\"*\""))
            {
                // AWS defines GetAuthorizationToken on no resource: an ECR login token is account-wide.
                Assert.Equal(["ecr:GetAuthorizationToken"], Actions(statement));
            }
        }
    }

    [Fact]
    public void The_execution_role_may_pull_the_image_and_write_the_log_group_only()
    {
        var executionRole = stack.LogicalId(stack.Stack.Silos.TaskDefinition.ExecutionRole!);
        var statements = PoliciesOf(executionRole).SelectMany(p => p["PolicyDocument"]!["Statement"]!.AsArray()).Select(s => s!.AsObject()).ToList();
        var actions = statements.SelectMany(Actions).Order();
        Assert.Equal(
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer", "logs:CreateLogStream", "logs:PutLogEvents"],
            actions);
        var logs = statements.Single(s => Actions(s).Contains("logs:PutLogEvents"));
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.GetAtt(stack.LogicalId(stack.Stack.Silos.LogGroup), "Arn"), logs["Resource"]));
    }

    [Fact]
    public void The_key_policy_grants_nothing_beyond_the_accounts_own_IAM_delegation()
    {
        // AWS's default key policy: the account (not any principal in it) administers the key, which
        // is what lets IAM policies such as the task role's grant its use. In a key policy the
        // resource "*" means the key itself; AWS requires that form.
        var statements = stack.Resources("AWS::KMS::Key").Values.Single()["Properties"]!["KeyPolicy"]!["Statement"]!.AsArray();
        var statement = Assert.Single(statements)!;
        Assert.Equal("kms:*", (string?)statement["Action"]);
        Assert.Equal("*", (string?)statement["Resource"]);
        Assert.Contains(":root", statement["Principal"]!["AWS"]!.ToJsonString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The action lists of <see cref="SiloTables"/> against the code: every DynamoDB call of the
    /// class that owns a table, and DescribeTable (start-up's existence check) on each. A call
    /// added to the code without its permission fails here rather than in production.
    /// </summary>
    [Fact]
    public void The_DynamoDB_actions_are_exactly_those_the_providers_call()
    {
        var calls = new Dictionary<SiloTable, SortedSet<string>>();
        var shared = new SortedSet<string>();
        foreach (var file in ProviderSources(RepositoryRoot.Find()))
        {
            var actions = ClientCall().Matches(File.ReadAllText(file)).Select(m => "dynamodb:" + m.Groups[1].Value).ToList();
            if (actions.Count == 0)
            {
                continue;
            }

            var name = Path.GetFileName(file);
            var table = name.StartsWith("DynamoDBGrainStorage", StringComparison.Ordinal) ? SiloTables.GrainState
                : name.StartsWith("DynamoDBMembershipTable", StringComparison.Ordinal) || name is "DynamoDBGatewayListProvider.cs" or "MembershipRow.cs" ? SiloTables.Membership
                : name.StartsWith("DynamoDBShardLeaseTable", StringComparison.Ordinal) ? SiloTables.Leases
                : name.StartsWith("DynamoDBDeadLetterStore", StringComparison.Ordinal) ? SiloTables.DeadLetters
                : null;
            if (table is null)
            {
                Assert.True(name == "DynamoDBTables.cs", $"{name} calls DynamoDB ({string.Join(", ", actions)}): say which table in this test and grant it in SiloTables.");
                shared.UnionWith(actions);
            }
            else
            {
                (calls.TryGetValue(table, out var set) ? set : calls[table] = []).UnionWith(actions);
            }
        }

        // Creating tables is the stack's job (DynamoDB:CreateTables=false); checking them is everyone's.
        Assert.Equal(["dynamodb:CreateTable", "dynamodb:DescribeTable"], shared);
        shared.Remove("dynamodb:CreateTable");
        foreach (var table in SiloTables.All)
        {
            Assert.Equal(calls[table].Union(shared).Order(), table.Actions.Order());
        }
    }

    [Fact]
    public void No_code_outside_the_providers_calls_DynamoDB()
    {
        var root = RepositoryRoot.Find();
        var providers = ProviderSources(root).ToHashSet();
        var others = new[] { "Providers", "Silo", "Grains", "Grains.Interfaces" }
            .SelectMany(d => Directory.GetFiles(Path.Combine(root, d), "*.cs", SearchOption.AllDirectories))
            .Where(f => !providers.Contains(f) && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Where(f => File.ReadAllText(f).Contains("using Amazon.DynamoDBv2.Model;", StringComparison.Ordinal));
        Assert.Empty(others);
    }

    /// <summary>The Kinesis actions against every call the silo's code makes on the Kinesis client.</summary>
    [Fact]
    public void The_Kinesis_actions_are_exactly_those_the_silo_calls()
    {
        var root = RepositoryRoot.Find();
        var client = Path.Combine(root, "Providers", "Analytics.Aws", "Kinesis", "KinesisClient.cs");
        var operations = KinesisOperation().Matches(File.ReadAllText(client)).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.Contains("PutRecords", operations);
        var called = new[] { "Providers", "Silo", "Grains" }
            .SelectMany(d => Directory.GetFiles(Path.Combine(root, d), "*.cs", SearchOption.AllDirectories))
            .Where(f => f != client && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => MethodCall().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            // ListAllShardsAsync pages through ListShards.
            .Select(name => name == "ListAllShards" ? "ListShards" : name)
            .Where(operations.Contains)
            .Select(name => "kinesis:" + name)
            .ToHashSet();
        Assert.Equal(called.Order(), SiloTables.KinesisActions.Order());
    }

    /// <summary>The files of our Orleans providers that call DynamoDB: the shared table helpers, the grain storage, the membership table, and the Kinesis provider's leases and dead letters.</summary>
    private static IEnumerable<string> ProviderSources(string root) =>
        new[]
        {
            Path.Combine(root, "Providers", "Analytics.Aws", "DynamoDB"),
            Path.Combine(root, "Providers", "Analytics.Persistence.DynamoDB", "Provider"),
            Path.Combine(root, "Providers", "Analytics.Clustering.DynamoDB", "Provider"),
            Path.Combine(root, "Providers", "Analytics.Streaming.Kinesis", "Leases"),
            Path.Combine(root, "Providers", "Analytics.Streaming.Kinesis", "Provider"),
        }.SelectMany(folder => Directory.GetFiles(folder, "*.cs"))
            .Where(file => File.ReadAllText(file).Contains("Amazon.DynamoDBv2", StringComparison.Ordinal));

    private string TaskRoleId => stack.LogicalId(stack.Stack.Silos.TaskDefinition.TaskRole);

    private IEnumerable<JsonObject> PoliciesOf(string roleId) =>
        stack.Resources("AWS::IAM::Policy").Values
            .Select(p => p["Properties"]!.AsObject())
            .Where(p => p["Roles"]!.AsArray().Any(r => (string?)r!["Ref"] == roleId));

    private List<JsonObject> TaskStatements() =>
        PoliciesOf(TaskRoleId).Single()["PolicyDocument"]!["Statement"]!.AsArray().Select(s => s!.AsObject()).ToList();

    private JsonObject TaskStatement(string sid) => TaskStatements().Single(s => (string?)s["Sid"] == sid);

    private static List<string> Actions(JsonObject statement) => statement["Action"] switch
    {
        JsonArray array => array.Select(a => (string)a!).ToList(),
        JsonNode single => [(string)single!],
        null => [],
    };

    private static List<JsonNode> Resources(JsonObject statement) => statement["Resource"] switch
    {
        JsonArray array => array.Select(r => r!).ToList(),
        JsonNode single => [single],
        null => [],
    };

    [GeneratedRegex(@"\b_?client\.(\w+)Async\(")]
    private static partial Regex ClientCall();

    [GeneratedRegex(@"SendAsync\(""(\w+)""")]
    private static partial Regex KinesisOperation();

    [GeneratedRegex(@"\.(\w+)Async\(")]
    private static partial Regex MethodCall();
}
