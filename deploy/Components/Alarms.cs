using Amazon.CDK;
using Amazon.CDK.AWS.CloudWatch;
using Amazon.CDK.AWS.CloudWatch.Actions;
using Amazon.CDK.AWS.ElasticLoadBalancingV2;
using Amazon.CDK.AWS.SNS;
using Constructs;

namespace Analytics.Deploy.Components;

/// <summary>
/// The alarms an operator is paged for, each notifying the alarm topic when it fires and when it
/// clears: the silos fall behind the stream; records are dead-lettered; no silo is healthy;
/// DynamoDB throttles a table; too many API requests fail with 5xx.
/// </summary>
public sealed class Alarms : Construct
{
    public Alarms(Construct scope, string id, DeployParameters parameters, DataStores data, SiloService silos)
        : base(scope, id)
    {
        Topic = parameters.AlarmTopicArn is { } arn
            ? Amazon.CDK.AWS.SNS.Topic.FromTopicArn(this, "Topic", arn)
            : new Topic(this, "Topic", new TopicProps { DisplayName = $"{parameters.StackName} alarms" });
        var prefix = parameters.ResourcePrefix;
        var oneMinute = Duration.Minutes(1);
        var fiveMinutes = Duration.Minutes(5);

        Add(new Alarm(this, "IteratorAge", new AlarmProps
        {
            AlarmName = prefix + "iterator-age",
            AlarmDescription = $"The silos read the stream more than {parameters.IteratorAgeAlarmMs / 1000} s behind its tip for 5 minutes: scaling out has not caught up (tasks at maxTasks, or too few shards?). Records older than the 24 h retention are lost.",
            Metric = data.Stream.MetricGetRecordsIteratorAgeMilliseconds(new MetricOptions { Statistic = Stats.MAXIMUM, Period = oneMinute }),
            Threshold = parameters.IteratorAgeAlarmMs,
            ComparisonOperator = ComparisonOperator.GREATER_THAN_THRESHOLD,
            EvaluationPeriods = 5,
            // No reads at all is the no-healthy-silos alarm's business.
            TreatMissingData = TreatMissingData.NOT_BREACHING,
        }));

        // A dead letter is a write to its table, and nothing else writes there.
        Add(new Alarm(this, "DeadLetters", new AlarmProps
        {
            AlarmName = prefix + "dead-letters",
            AlarmDescription = "Records were written to the dead-letter table: they could not be processed. See GET /api/dead-letters.",
            Metric = data.Tables[SiloTables.DeadLetters].MetricConsumedWriteCapacityUnits(new MetricOptions { Statistic = Stats.SUM, Period = fiveMinutes }),
            Threshold = 0,
            ComparisonOperator = ComparisonOperator.GREATER_THAN_THRESHOLD,
            EvaluationPeriods = 1,
            TreatMissingData = TreatMissingData.NOT_BREACHING,
        }));

        Add(new Alarm(this, "NoHealthySilos", new AlarmProps
        {
            AlarmName = prefix + "no-healthy-silos",
            AlarmDescription = "No silo passes the load balancer's /health/ready check: the API is down and nothing reads the stream.",
            Metric = silos.TargetGroup.Metrics.HealthyHostCount(new MetricOptions { Statistic = Stats.MINIMUM, Period = oneMinute }),
            Threshold = 1,
            ComparisonOperator = ComparisonOperator.LESS_THAN_THRESHOLD,
            EvaluationPeriods = 2,
            // The load balancer publishes this every minute; silence means it is not counting anything healthy.
            TreatMissingData = TreatMissingData.BREACHING,
        }));

        foreach (var (table, resource) in data.Tables)
        {
            Add(new Alarm(this, "Throttling" + table.Id, new AlarmProps
            {
                AlarmName = $"{prefix}dynamodb-throttling-{table.Suffix}",
                AlarmDescription = $"DynamoDB throttled reads or writes on {resource.TableName} ({table.Purpose}). The silos retry, but lag and latency grow.",
                Metric = new MathExpression(new MathExpressionProps
                {
                    Expression = "FILL(reads, 0) + FILL(writes, 0)",
                    Label = "throttle events",
                    Period = fiveMinutes,
                    UsingMetrics = new Dictionary<string, IMetric>
                    {
                        ["reads"] = resource.Metric("ReadThrottleEvents", new MetricOptions { Statistic = Stats.SUM, Period = fiveMinutes }),
                        ["writes"] = resource.Metric("WriteThrottleEvents", new MetricOptions { Statistic = Stats.SUM, Period = fiveMinutes }),
                    },
                }),
                Threshold = 0,
                ComparisonOperator = ComparisonOperator.GREATER_THAN_THRESHOLD,
                EvaluationPeriods = 1,
                TreatMissingData = TreatMissingData.NOT_BREACHING,
            }));
        }

        var metrics = silos.LoadBalancer.Metrics;
        Add(new Alarm(this, "Http5xxRate", new AlarmProps
        {
            AlarmName = prefix + "http-5xx-rate",
            AlarmDescription = $"More than {parameters.Http5xxAlarmPercent}% of API requests answered 5xx (by the silos or by the load balancer) in 3 of the last 5 minutes.",
            Metric = new MathExpression(new MathExpressionProps
            {
                Expression = "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests",
                Label = "5xx, % of requests",
                Period = oneMinute,
                UsingMetrics = new Dictionary<string, IMetric>
                {
                    ["target5xx"] = metrics.HttpCodeTarget(HttpCodeTarget.TARGET_5XX_COUNT, new MetricOptions { Statistic = Stats.SUM, Period = oneMinute }),
                    ["elb5xx"] = metrics.HttpCodeElb(HttpCodeElb.ELB_5XX_COUNT, new MetricOptions { Statistic = Stats.SUM, Period = oneMinute }),
                    ["requests"] = metrics.RequestCount(new MetricOptions { Statistic = Stats.SUM, Period = oneMinute }),
                },
            }),
            Threshold = parameters.Http5xxAlarmPercent,
            ComparisonOperator = ComparisonOperator.GREATER_THAN_THRESHOLD,
            EvaluationPeriods = 5,
            DatapointsToAlarm = 3,
            TreatMissingData = TreatMissingData.NOT_BREACHING,
        }));
    }

    public ITopic Topic { get; }

    public List<Alarm> All { get; } = [];

    private void Add(Alarm alarm)
    {
        var action = new SnsAction(Topic);
        alarm.AddAlarmAction(action);
        alarm.AddOkAction(action);
        All.Add(alarm);
    }
}
