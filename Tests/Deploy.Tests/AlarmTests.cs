using System.Text.Json.Nodes;

namespace Analytics.Deploy.Tests;

/// <summary>The alarms an operator is paged for, each notifying the alarm topic when it fires and when it clears.</summary>
[Collection(StackCollection.Name)]
public sealed class AlarmTests(DefaultStack stack)
{
    [Fact]
    public void The_silos_falling_behind_the_stream_raises_an_alarm()
    {
        var alarm = Alarm("analytics-prod-iterator-age");
        Assert.Equal("AWS/Kinesis", (string?)alarm["Namespace"]);
        Assert.Equal("GetRecords.IteratorAgeMilliseconds", (string?)alarm["MetricName"]);
        Assert.Equal("Maximum", (string?)alarm["Statistic"]);
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.Ref(stack.LogicalId(stack.Stack.Data.Stream)), alarm["Dimensions"]![0]!["Value"]));
        Assert.Equal(300_000, (double)alarm["Threshold"]!);
        Assert.Equal("GreaterThanThreshold", (string?)alarm["ComparisonOperator"]);
        Assert.Equal(5, (int)alarm["EvaluationPeriods"]!);
    }

    [Fact]
    public void A_write_to_the_dead_letter_table_raises_an_alarm()
    {
        var alarm = Alarm("analytics-prod-dead-letters");
        Assert.Equal("AWS/DynamoDB", (string?)alarm["Namespace"]);
        Assert.Equal("ConsumedWriteCapacityUnits", (string?)alarm["MetricName"]);
        Assert.Equal("Sum", (string?)alarm["Statistic"]);
        var deadLetters = stack.Stack.Data.Tables.Single(t => t.Key.Suffix == "dead-letters").Value;
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.Ref(stack.LogicalId(deadLetters)), alarm["Dimensions"]![0]!["Value"]));
        Assert.Equal(0, (double)alarm["Threshold"]!);
        Assert.Equal("GreaterThanThreshold", (string?)alarm["ComparisonOperator"]);
        Assert.Equal("notBreaching", (string?)alarm["TreatMissingData"]);
    }

    [Fact]
    public void No_healthy_silo_behind_the_load_balancer_raises_an_alarm_and_so_does_silence()
    {
        var alarm = Alarm("analytics-prod-no-healthy-silos");
        Assert.Equal("AWS/ApplicationELB", (string?)alarm["Namespace"]);
        Assert.Equal("HealthyHostCount", (string?)alarm["MetricName"]);
        Assert.Equal("Minimum", (string?)alarm["Statistic"]);
        Assert.Equal(1, (double)alarm["Threshold"]!);
        Assert.Equal("LessThanThreshold", (string?)alarm["ComparisonOperator"]);
        Assert.Equal("breaching", (string?)alarm["TreatMissingData"]);
        Assert.Contains(alarm["Dimensions"]!.AsArray(), d => (string?)d!["Name"] == "TargetGroup");
    }

    [Theory]
    [InlineData("grain-state")]
    [InlineData("membership")]
    [InlineData("leases")]
    [InlineData("dead-letters")]
    public void DynamoDB_throttling_on_any_table_raises_an_alarm(string suffix)
    {
        var alarm = Alarm("analytics-prod-dynamodb-throttling-" + suffix);
        var metrics = alarm["Metrics"]!.AsArray().Select(m => m!.AsObject()).ToList();
        Assert.Equal("FILL(reads, 0) + FILL(writes, 0)", (string?)metrics.Single(m => m["Expression"] is not null)["Expression"]);
        var table = SynthesizedStack.Ref(stack.LogicalId(stack.Stack.Data.Tables.Single(t => t.Key.Suffix == suffix).Value));
        foreach (var (id, name) in new[] { ("reads", "ReadThrottleEvents"), ("writes", "WriteThrottleEvents") })
        {
            var metric = metrics.Single(m => (string?)m["Id"] == id)["MetricStat"]!;
            Assert.Equal("AWS/DynamoDB", (string?)metric["Metric"]!["Namespace"]);
            Assert.Equal(name, (string?)metric["Metric"]!["MetricName"]);
            Assert.True(JsonNode.DeepEquals(table, metric["Metric"]!["Dimensions"]![0]!["Value"]));
        }

        Assert.Equal(0, (double)alarm["Threshold"]!);
        Assert.Equal("GreaterThanThreshold", (string?)alarm["ComparisonOperator"]);
    }

    [Fact]
    public void A_5xx_rate_over_five_percent_raises_an_alarm()
    {
        var alarm = Alarm("analytics-prod-http-5xx-rate");
        var metrics = alarm["Metrics"]!.AsArray().Select(m => m!.AsObject()).ToList();
        Assert.Equal("100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests", (string?)metrics.Single(m => m["Expression"] is not null)["Expression"]);
        Assert.Equal(
            ["HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "RequestCount"],
            metrics.Where(m => m["MetricStat"] is not null).Select(m => (string)m["MetricStat"]!["Metric"]!["MetricName"]!).Order());
        Assert.All(metrics.Where(m => m["MetricStat"] is not null), m => Assert.Equal("AWS/ApplicationELB", (string?)m["MetricStat"]!["Metric"]!["Namespace"]));
        Assert.Equal(5, (double)alarm["Threshold"]!);
        Assert.Equal("GreaterThanThreshold", (string?)alarm["ComparisonOperator"]);
        Assert.Equal(3, (int)alarm["DatapointsToAlarm"]!);
        Assert.Equal(5, (int)alarm["EvaluationPeriods"]!);
    }

    [Fact]
    public void Every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears()
    {
        var topic = SynthesizedStack.Ref(stack.Resources("AWS::SNS::Topic").Keys.Single());
        var alarms = OperatorAlarms().ToList();
        Assert.Equal(8, alarms.Count);
        foreach (var alarm in alarms)
        {
            Assert.True(JsonNode.DeepEquals(new JsonArray(topic.DeepClone()), alarm["AlarmActions"]), (string?)alarm["AlarmName"]);
            Assert.True(JsonNode.DeepEquals(new JsonArray(topic.DeepClone()), alarm["OKActions"]), (string?)alarm["AlarmName"]);
            Assert.False(string.IsNullOrWhiteSpace(alarm["AlarmDescription"]?.ToJsonString()));
        }
    }

    [Fact]
    public void Without_a_topic_parameter_the_stack_creates_one_and_outputs_its_ARN()
    {
        var topic = stack.Resources("AWS::SNS::Topic").Keys.Single();
        Assert.True(JsonNode.DeepEquals(SynthesizedStack.Ref(topic), stack.Json["Outputs"]!["AlarmTopicArn"]!["Value"]));
    }

    private IEnumerable<JsonObject> OperatorAlarms() =>
        stack.Resources("AWS::CloudWatch::Alarm").Values.Select(a => a["Properties"]!.AsObject()).Where(a => a["AlarmName"] is not null);

    private JsonObject Alarm(string name) => OperatorAlarms().Single(a => (string?)a["AlarmName"] == name);
}
