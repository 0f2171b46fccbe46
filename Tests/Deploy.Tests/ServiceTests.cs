using System.Text.Json.Nodes;
using Amazon.CDK.Assertions;

namespace Analytics.Deploy.Tests;

/// <summary>The ECS service of the silos, its task, its configuration and its load balancer.</summary>
[Collection(StackCollection.Name)]
public sealed class ServiceTests(DefaultStack stack)
{
    [Fact]
    public void At_least_three_Fargate_tasks_run_in_the_private_subnets_of_all_three_zones()
    {
        stack.Template.ResourceCountIs("AWS::ECS::Service", 1);
        var service = stack.Resources("AWS::ECS::Service").Values.Single()["Properties"]!.AsObject();
        Assert.Equal(3, (int)service["DesiredCount"]!);
        Assert.Equal("FARGATE", (string?)service["LaunchType"]);
        var network = service["NetworkConfiguration"]!["AwsvpcConfiguration"]!;
        Assert.Equal("DISABLED", (string?)network["AssignPublicIp"]);
        var privateSubnets = stack.Resources("AWS::EC2::Subnet").Where(s => (bool?)s.Value["Properties"]!["MapPublicIpOnLaunch"] != true).Select(s => s.Key).Order();
        Assert.Equal(privateSubnets, network["Subnets"]!.AsArray().Select(s => (string)s!["Ref"]!).Order());
        // Fargate spreads tasks over the subnets' zones; rebalancing moves them back after a zone outage.
        Assert.Equal("ENABLED", (string?)service["AvailabilityZoneRebalancing"]);
    }

    [Fact]
    public void A_deployment_replaces_tasks_gradually_and_rolls_back_when_they_do_not_become_healthy()
    {
        stack.Template.HasResourceProperties("AWS::ECS::Service", new Dictionary<string, object>
        {
            ["DeploymentConfiguration"] = Match.ObjectLike(new Dictionary<string, object>
            {
                ["MinimumHealthyPercent"] = 100,
                ["MaximumPercent"] = 150,
                ["DeploymentCircuitBreaker"] = new Dictionary<string, object> { ["Enable"] = true, ["Rollback"] = true },
            }),
            ["HealthCheckGracePeriodSeconds"] = 60,
        });
    }

    [Fact]
    public void The_task_has_the_default_size_and_one_container_running_the_image_built_from_the_Dockerfile()
    {
        stack.Template.HasResourceProperties("AWS::ECS::TaskDefinition", new Dictionary<string, object>
        {
            ["Cpu"] = "1024",
            ["Memory"] = "2048",
            ["NetworkMode"] = "awsvpc",
            ["RequiresCompatibilities"] = new object[] { "FARGATE" },
            ["RuntimePlatform"] = new Dictionary<string, object> { ["CpuArchitecture"] = "X86_64", ["OperatingSystemFamily"] = "LINUX" },
        });
        var container = Container(stack);
        Assert.Equal("silo", (string?)container["Name"]);
        // An asset image: cdk deploy builds deploy/Dockerfile and pushes it to the bootstrap repository.
        Assert.Contains("cdk-hnb659fds-container-assets", container["Image"]!.ToJsonString(), StringComparison.Ordinal);
        var asset = JsonNode.Parse(File.ReadAllText(Path.Combine(stack.OutputDirectory, stack.Stack.StackName + ".assets.json")))!["dockerImages"]!.AsObject().Single().Value!["source"]!;
        Assert.Equal("deploy/Dockerfile", (string?)asset["dockerFile"]);
        Assert.Equal("linux/amd64", (string?)asset["platform"]);
        Assert.True(File.Exists(Path.Combine(stack.OutputDirectory, (string)asset["directory"]!, "deploy", "Dockerfile")), "the staged build context must hold the Dockerfile");
        Assert.False(Directory.Exists(Path.Combine(stack.OutputDirectory, (string)asset["directory"]!, "Tests")), "the build context holds only what the silo is built from");
    }

    [Fact]
    public void The_container_gets_every_AWS_mode_setting_from_the_resource_it_names()
    {
        var environment = ContainerEnvironment(stack);
        var data = stack.Stack.Data;
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.Ref(stack.LogicalId(data.Stream)), environment["Kinesis__StreamName"]));
        Assert.True(JsonNode.DeepEquals(new JsonObject { ["Ref"] = "AWS::Region" }, environment["AWS__Region"]));
        Assert.Equal("analytics-prod-", (string?)environment["DynamoDB__TablePrefix"]);
        Assert.Equal("false", (string?)environment["DynamoDB__CreateTables"]);
        Assert.Equal("analytics-prod", (string?)environment["Orleans__ClusterId"]);
        Assert.Equal("5080", (string?)environment["Http__Port"]);
        Assert.Equal("11111", (string?)environment["Silo__Port"]);
        Assert.Equal("30000", (string?)environment["Gateway__Port"]);
        Assert.Equal("00:00:25", (string?)environment["Silo__ShutdownTimeout"]);
        Assert.Equal("json", (string?)environment["Logging__Console__FormatterName"]);
        // The task's own address and zone come from the ECS task metadata endpoint, not from here.
        Assert.False(environment.ContainsKey("Silo__AdvertisedHost"));
        Assert.False(environment.ContainsKey("Silo__Zone"));
        Assert.Equal(10, environment.Count);

        // Each table the prefix names is one the stack creates.
        foreach (var table in data.Tables.Values)
        {
            Assert.StartsWith("analytics-prod-", (string)stack.Properties(stack.LogicalId(table))["TableName"]!, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void No_cluster_secret_is_made_or_injected_since_Orleans_has_none()
    {
        // Orleans has no shared-secret handshake; the silo ignores Cluster:Secret, so the stack no
        // longer makes one. Silo and gateway ports are open only to the silos' own security group.
        Assert.Null(Container(stack)["Secrets"]);
        Assert.Empty(stack.Resources("AWS::SecretsManager::Secret"));
        Assert.False(ContainerEnvironment(stack).ContainsKey("Cluster__Secret"));
    }

    [Fact]
    public void The_container_exposes_the_three_ports_logs_to_CloudWatch_and_has_time_to_hand_its_shards_over()
    {
        var container = Container(stack);
        Assert.Equal([5080, 11111, 30000], container["PortMappings"]!.AsArray().Select(p => (int)p!["ContainerPort"]!).Order());
        // SIGTERM, then 40 s before SIGKILL: more than the silo's 25 s graceful stop plus its 3 s watchdog margin.
        Assert.Equal(40, (int)container["StopTimeout"]!);
        var logging = container["LogConfiguration"]!;
        Assert.Equal("awslogs", (string?)logging["LogDriver"]);
        var logGroup = stack.Resources("AWS::Logs::LogGroup").Single();
        Assert.Equal(logGroup.Key, (string?)logging["Options"]!["awslogs-group"]!["Ref"]);
        Assert.Equal("/analytics/prod/silo", (string?)logGroup.Value["Properties"]!["LogGroupName"]);
        Assert.Equal(30, (int)logGroup.Value["Properties"]!["RetentionInDays"]!);
    }

    [Fact]
    public void The_HTTP_API_is_behind_an_internet_facing_load_balancer_that_checks_the_readiness_endpoint()
    {
        stack.Template.HasResourceProperties("AWS::ElasticLoadBalancingV2::LoadBalancer", new Dictionary<string, object>
        {
            ["Scheme"] = "internet-facing",
            ["Type"] = "application",
        });
        stack.Template.HasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", new Dictionary<string, object>
        {
            ["Port"] = 5080,
            ["Protocol"] = "HTTP",
            ["TargetType"] = "ip",
            ["HealthCheckPath"] = "/health/ready",
            ["Matcher"] = new Dictionary<string, object> { ["HttpCode"] = "200" },
            ["TargetGroupAttributes"] = Match.ArrayWith(new object[] { new Dictionary<string, object> { ["Key"] = "deregistration_delay.timeout_seconds", ["Value"] = "30" } }),
        });
        stack.Template.ResourceCountIs("AWS::ElasticLoadBalancingV2::Listener", 1);
        stack.Template.HasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", new Dictionary<string, object>
        {
            ["Port"] = 80,
            ["Protocol"] = "HTTP",
            ["DefaultActions"] = new object[] { Match.ObjectLike(new Dictionary<string, object> { ["Type"] = "forward" }) },
        });
        stack.Template.HasResourceProperties("AWS::ECS::Service", new Dictionary<string, object>
        {
            ["LoadBalancers"] = new object[] { Match.ObjectLike(new Dictionary<string, object> { ["ContainerName"] = "silo", ["ContainerPort"] = 5080 }) },
        });
    }

    [Fact]
    public void The_outputs_name_what_an_operator_needs_next()
    {
        var outputs = stack.Json["Outputs"]!.AsObject().Select(o => o.Key).Order();
        Assert.Equal(["AlarmTopicArn", "ApiUrl", "ClusterName", "LogGroup", "ServiceName", "StreamName", "TablePrefix"], outputs);
    }

    internal static JsonObject Container(SynthesizedStack stack) =>
        stack.Resources("AWS::ECS::TaskDefinition").Values.Single()["Properties"]!["ContainerDefinitions"]!.AsArray().Single()!.AsObject();

    internal static Dictionary<string, JsonNode?> ContainerEnvironment(SynthesizedStack stack) =>
        Container(stack)["Environment"]!.AsArray().ToDictionary(e => (string)e!["Name"]!, e => e!["Value"]);
}
