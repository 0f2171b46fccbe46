using System.Text.Json.Nodes;
using Amazon.CDK.Assertions;

namespace Analytics.Deploy.Tests;

/// <summary>Every parameter reaches the template: a second environment with all of them set.</summary>
[Collection(StackCollection.Name)]
public sealed class ParameterTests(CustomizedStack stack)
{
    [Fact]
    public void The_environment_name_is_in_the_stack_name_and_in_every_resource_name()
    {
        Assert.Equal("Analytics-staging", stack.Stack.StackName);
        stack.Template.HasResourceProperties("AWS::Kinesis::Stream", new Dictionary<string, object> { ["Name"] = "analytics-staging-events", ["ShardCount"] = 12 });
        Assert.Equal(
            ["analytics-staging-dead-letters", "analytics-staging-grain-state", "analytics-staging-leases", "analytics-staging-membership"],
            stack.Resources("AWS::DynamoDB::Table").Values.Select(t => (string)t["Properties"]!["TableName"]!).Order());
        stack.Template.HasResourceProperties("AWS::ECS::Cluster", new Dictionary<string, object> { ["ClusterName"] = "analytics-staging" });
        var environment = ServiceTests.ContainerEnvironment(stack);
        Assert.Equal("analytics-staging-", (string?)environment["DynamoDB__TablePrefix"]);
        Assert.Equal("analytics-staging", (string?)environment["Orleans__ClusterId"]);
        Assert.All(stack.Resources("AWS::CloudWatch::Alarm").Values.Select(a => (string?)a["Properties"]!["AlarmName"]).OfType<string>(),
            name => Assert.StartsWith("analytics-staging-", name, StringComparison.Ordinal));
    }

    [Fact]
    public void Task_count_bounds_and_task_size_are_applied()
    {
        stack.Template.HasResourceProperties("AWS::ECS::Service", new Dictionary<string, object> { ["DesiredCount"] = 4 });
        stack.Template.HasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", new Dictionary<string, object> { ["MinCapacity"] = 4, ["MaxCapacity"] = 10 });
        stack.Template.HasResourceProperties("AWS::ECS::TaskDefinition", new Dictionary<string, object> { ["Cpu"] = "2048", ["Memory"] = "8192" });
    }

    [Fact]
    public void An_image_in_ECR_replaces_the_Dockerfile_build_and_only_that_repository_may_be_pulled()
    {
        var image = ServiceTests.Container(stack)["Image"]!.ToJsonString();
        Assert.Contains("/analytics-silo:1.4.2", image, StringComparison.Ordinal);
        var assets = JsonNode.Parse(File.ReadAllText(Path.Combine(stack.OutputDirectory, stack.Stack.StackName + ".assets.json")))!;
        Assert.Empty(assets["dockerImages"]?.AsObject() ?? []);
        var pull = stack.Resources("AWS::IAM::Policy").Values
            .SelectMany(p => p["Properties"]!["PolicyDocument"]!["Statement"]!.AsArray())
            .Single(s => s!["Action"]!.ToJsonString().Contains("ecr:BatchGetImage", StringComparison.Ordinal))!;
        Assert.Contains(":repository/analytics-silo", pull["Resource"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Alarms_notify_the_given_topic_and_no_topic_is_created()
    {
        stack.Template.ResourceCountIs("AWS::SNS::Topic", 0);
        var alarms = stack.Resources("AWS::CloudWatch::Alarm").Values.Select(a => a["Properties"]!).Where(a => a["AlarmName"] is not null).ToList();
        Assert.Equal(8, alarms.Count);
        Assert.All(alarms, a =>
        {
            Assert.Equal($"[\"{CustomizedStack.TopicArn}\"]", a["AlarmActions"]!.ToJsonString());
            Assert.Equal($"[\"{CustomizedStack.TopicArn}\"]", a["OKActions"]!.ToJsonString());
        });
        Assert.Equal(CustomizedStack.TopicArn, (string?)stack.Json["Outputs"]!["AlarmTopicArn"]!["Value"]);
    }

    [Fact]
    public void Alarm_thresholds_log_retention_and_NAT_gateways_are_applied()
    {
        stack.Template.HasResourceProperties("AWS::CloudWatch::Alarm", new Dictionary<string, object> { ["AlarmName"] = "analytics-staging-iterator-age", ["Threshold"] = 120000 });
        stack.Template.HasResourceProperties("AWS::CloudWatch::Alarm", new Dictionary<string, object> { ["AlarmName"] = "analytics-staging-http-5xx-rate", ["Threshold"] = 2.5 });
        stack.Template.HasResourceProperties("AWS::Logs::LogGroup", new Dictionary<string, object> { ["LogGroupName"] = "/analytics/staging/silo", ["RetentionInDays"] = 90 });
        stack.Template.ResourceCountIs("AWS::EC2::NatGateway", 1);
    }

    [Fact]
    public void A_certificate_turns_on_HTTPS_and_redirects_HTTP_and_only_the_allowed_range_reaches_the_load_balancer()
    {
        stack.Template.HasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", new Dictionary<string, object>
        {
            ["Port"] = 443,
            ["Protocol"] = "HTTPS",
            ["Certificates"] = new object[] { new Dictionary<string, object> { ["CertificateArn"] = CustomizedStack.CertificateArn } },
            ["DefaultActions"] = new object[] { Match.ObjectLike(new Dictionary<string, object> { ["Type"] = "forward" }) },
        });
        stack.Template.HasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", new Dictionary<string, object>
        {
            ["Port"] = 80,
            ["Protocol"] = "HTTP",
            ["DefaultActions"] = new object[] { Match.ObjectLike(new Dictionary<string, object> { ["Type"] = "redirect" }) },
        });
        var alb = stack.Resources("AWS::EC2::SecurityGroup").Keys.Single(k => k != stack.LogicalId(stack.Stack.Silos.SecurityGroup));
        Assert.Equal(["443 from 203.0.113.0/24", "80 from 203.0.113.0/24"], SecurityGroupTests.Rules(stack, alb, ingress: true));
        Assert.Equal("https://", (string?)stack.Json["Outputs"]!["ApiUrl"]!["Value"]!["Fn::Join"]![1]![0]);
    }
}

/// <summary>Parameters that cannot be used stop the synth with the context key to fix; no CDK is needed for that.</summary>
public sealed class ParameterValidationTests
{
    [Fact]
    public void Every_parameter_has_a_default()
    {
        var parameters = DeployParameters.FromContext(_ => null);
        Assert.Equal(new DeployParameters(), parameters);
        Assert.Equal(("prod", 6, 3, 6, 1024, 2048), (parameters.Environment, parameters.ShardCount, parameters.MinTasks, parameters.MaxTasks, parameters.TaskCpu, parameters.TaskMemoryMiB));
        Assert.Null(parameters.ImageRepository);
        Assert.Null(parameters.AlarmTopicArn);
    }

    [Theory]
    [InlineData("minTasks", "2", "at least 3")]
    [InlineData("maxTasks", "2", "between minTasks")]
    [InlineData("shardCount", "0", "between 1 and 500")]
    [InlineData("shardCount", "six", "not a whole number")]
    [InlineData("taskMemory", "1000", "not a Fargate task size")]
    [InlineData("taskCpu", "300", "not a Fargate task size")]
    [InlineData("imageRepository", "analytics-silo", "give both")]
    [InlineData("environment", "Prod", "lowercase")]
    [InlineData("allowedCidr", "everyone", "CIDR")]
    [InlineData("alarmTopicArn", "ops-pager", "SNS topic ARN")]
    [InlineData("logRetentionDays", "10", "retention")]
    [InlineData("natGateways", "0", "1, 2 or 3")]
    public void A_bad_value_names_its_key(string key, string value, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => DeployParameters.FromContext(k => k == key ? value : null));
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(256, 512, true)]
    [InlineData(256, 1536, false)]
    [InlineData(512, 4096, true)]
    [InlineData(1024, 9216, false)]
    [InlineData(4096, 30720, true)]
    [InlineData(8192, 20480, true)]
    [InlineData(8192, 18432, false)]
    public void Fargate_task_sizes_are_checked(int cpu, int memory, bool valid)
    {
        var context = new Dictionary<string, object> { ["taskCpu"] = cpu, ["taskMemory"] = memory };
        var parse = () => DeployParameters.FromContext(k => context.GetValueOrDefault(k));
        if (valid)
        {
            Assert.Equal((cpu, memory), (parse().TaskCpu, parse().TaskMemoryMiB));
        }
        else
        {
            Assert.Throws<ArgumentException>(() => parse());
        }
    }
}
