using System.Text.Json.Nodes;
using Amazon.CDK.Assertions;

namespace Analytics.Deploy.Tests;

/// <summary>Task autoscaling: on CPU and on the stream's iterator age, scaling in slower than out.</summary>
[Collection(StackCollection.Name)]
public sealed class ScalingTests(DefaultStack stack)
{
    [Fact]
    public void The_task_count_scales_between_the_bounds()
    {
        stack.Template.ResourceCountIs("AWS::ApplicationAutoScaling::ScalableTarget", 1);
        stack.Template.HasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", new Dictionary<string, object>
        {
            ["MinCapacity"] = 3,
            ["MaxCapacity"] = 6,
            ["ServiceNamespace"] = "ecs",
            ["ScalableDimension"] = "ecs:service:DesiredCount",
        });
    }

    [Fact]
    public void CPU_is_tracked_at_60_percent_and_scaling_in_waits_ten_times_longer_than_scaling_out()
    {
        stack.Template.HasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", new Dictionary<string, object>
        {
            ["PolicyType"] = "TargetTrackingScaling",
            ["TargetTrackingScalingPolicyConfiguration"] = new Dictionary<string, object>
            {
                ["PredefinedMetricSpecification"] = new Dictionary<string, object> { ["PredefinedMetricType"] = "ECSServiceAverageCPUUtilization" },
                ["TargetValue"] = 60,
                ["ScaleOutCooldown"] = 60,
                ["ScaleInCooldown"] = 600,
            },
        });
    }

    [Fact]
    public void A_lag_over_a_minute_adds_a_task_and_over_five_minutes_two()
    {
        var (alarm, policy) = LagPolicy("GreaterThanOrEqualToThreshold");
        Assert.Equal(60_000, (double)alarm["Threshold"]!);
        Assert.Equal(2, (int)alarm["EvaluationPeriods"]!);
        var configuration = policy["StepScalingPolicyConfiguration"]!;
        Assert.Equal(120, (int)configuration["Cooldown"]!);
        Assert.Equal("ChangeInCapacity", (string?)configuration["AdjustmentType"]);
        Assert.Equal(
            """[{"MetricIntervalLowerBound":0,"MetricIntervalUpperBound":240000,"ScalingAdjustment":1},{"MetricIntervalLowerBound":240000,"ScalingAdjustment":2}]""",
            configuration["StepAdjustments"]!.ToJsonString());
    }

    [Fact]
    public void A_lag_under_five_seconds_for_fifteen_minutes_removes_one_task_at_most_every_ten_minutes()
    {
        var (alarm, policy) = LagPolicy("LessThanOrEqualToThreshold");
        Assert.Equal(5_000, (double)alarm["Threshold"]!);
        Assert.Equal(15, (int)alarm["EvaluationPeriods"]!);
        var configuration = policy["StepScalingPolicyConfiguration"]!;
        Assert.Equal(600, (int)configuration["Cooldown"]!);
        Assert.Equal("""[{"MetricIntervalUpperBound":0,"ScalingAdjustment":-1}]""", configuration["StepAdjustments"]!.ToJsonString());
    }

    [Fact]
    public void Scaling_in_on_lag_is_slower_than_scaling_out_on_it()
    {
        var (outAlarm, outPolicy) = LagPolicy("GreaterThanOrEqualToThreshold");
        var (inAlarm, inPolicy) = LagPolicy("LessThanOrEqualToThreshold");
        Assert.True((int)inAlarm["EvaluationPeriods"]! * (int)inAlarm["Period"]! > 5 * (int)outAlarm["EvaluationPeriods"]! * (int)outAlarm["Period"]!);
        Assert.True((int)inPolicy["StepScalingPolicyConfiguration"]!["Cooldown"]! > 3 * (int)outPolicy["StepScalingPolicyConfiguration"]!["Cooldown"]!);
    }

    [Fact]
    public void There_are_three_scaling_policies_on_the_one_target()
    {
        var target = stack.Resources("AWS::ApplicationAutoScaling::ScalableTarget").Keys.Single();
        var policies = stack.Resources("AWS::ApplicationAutoScaling::ScalingPolicy").Values;
        Assert.Equal(3, policies.Count());
        Assert.All(policies, p => Assert.Equal(target, (string?)p["Properties"]!["ScalingTargetId"]!["Ref"]));
    }

    /// <summary>The scaling alarm on the stream's iterator age with this comparison, and the step policy it triggers.</summary>
    private (JsonObject Alarm, JsonObject Policy) LagPolicy(string comparison)
    {
        var alarm = stack.Resources("AWS::CloudWatch::Alarm").Values
            .Select(a => a["Properties"]!.AsObject())
            .Single(a => (string?)a["MetricName"] == "GetRecords.IteratorAgeMilliseconds" && (string?)a["ComparisonOperator"] == comparison && a["AlarmName"] is null);
        Assert.Equal("AWS/Kinesis", (string?)alarm["Namespace"]);
        Assert.Equal("Maximum", (string?)alarm["Statistic"]);
        Assert.Equal(60, (int)alarm["Period"]!);
        Assert.True(JsonNode.DeepEquals(
            new JsonArray(new JsonObject { ["Name"] = "StreamName", ["Value"] = SynthesizedStack.Ref(stack.LogicalId(stack.Stack.Data.Stream)) }),
            alarm["Dimensions"]));
        var policyId = (string)alarm["AlarmActions"]!.AsArray().Single()!["Ref"]!;
        var policy = stack.Properties(policyId);
        Assert.Equal("StepScaling", (string?)policy["PolicyType"]);
        Assert.Equal("Maximum", (string?)policy["StepScalingPolicyConfiguration"]!["MetricAggregationType"]);
        return (alarm, policy);
    }
}
