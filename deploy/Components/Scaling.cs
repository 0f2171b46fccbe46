using Amazon.CDK;
using Amazon.CDK.AWS.ApplicationAutoScaling;
using Amazon.CDK.AWS.CloudWatch;
using Amazon.CDK.AWS.ECS;
using Amazon.CDK.AWS.Kinesis;
using Constructs;

namespace Analytics.Deploy.Components;

/// <summary>
/// Task autoscaling between minTasks and maxTasks, on CPU and on the consumers' lag (the stream's
/// <c>GetRecords.IteratorAgeMilliseconds</c>, the age of the oldest record the silos' last reads
/// returned). Scale-out reacts within minutes; scale-in waits much longer and removes one task at a
/// time, because every stopped task hands its shards over (it checkpoints and releases its leases,
/// and others take them and re-read from the checkpoint), which briefly raises the lag itself.
/// deploy/README.md explains the reasoning.
/// </summary>
public sealed class Scaling : Construct
{
    public const double CpuTargetPercent = 60;

    /// <summary>Add a task when the lag passes a minute (a shard handover alone stays well below it), two past five.</summary>
    public const double LagScaleOutMs = 60_000;

    public const double LagScaleOutFastMs = 300_000;

    /// <summary>Remove a task only after the lag has stayed under this for <see cref="ScaleInMinutes"/> minutes on end.</summary>
    public const double LagScaleInMs = 5_000;

    public const int ScaleInMinutes = 15;

    public static readonly Duration ScaleOutCooldown = Duration.Minutes(2);

    public static readonly Duration ScaleInCooldown = Duration.Minutes(10);

    public Scaling(Construct scope, string id, DeployParameters parameters, FargateService service, IStream stream)
        : base(scope, id)
    {
        TaskCount = service.AutoScaleTaskCount(new EnableScalingProps { MinCapacity = parameters.MinTasks, MaxCapacity = parameters.MaxTasks });

        TaskCount.ScaleOnCpuUtilization("Cpu", new CpuUtilizationScalingProps
        {
            TargetUtilizationPercent = CpuTargetPercent,
            ScaleOutCooldown = Duration.Minutes(1),
            ScaleInCooldown = ScaleInCooldown,
        });

        var lag = stream.MetricGetRecordsIteratorAgeMilliseconds(new MetricOptions { Statistic = Stats.MAXIMUM, Period = Duration.Minutes(1) });

        // Two policies rather than one, so that scaling in can be slower than scaling out: a step
        // policy has one cooldown and one evaluation window for both directions.
        TaskCount.ScaleOnMetric("LagOut", new BasicStepScalingPolicyProps
        {
            Metric = lag,
            ScalingSteps =
            [
                new ScalingInterval { Upper = LagScaleOutMs, Change = 0 },
                new ScalingInterval { Lower = LagScaleOutMs, Change = 1 },
                new ScalingInterval { Lower = LagScaleOutFastMs, Change = 2 },
            ],
            AdjustmentType = AdjustmentType.CHANGE_IN_CAPACITY,
            EvaluationPeriods = 2,
            Cooldown = ScaleOutCooldown,
        });
        TaskCount.ScaleOnMetric("LagIn", new BasicStepScalingPolicyProps
        {
            Metric = lag,
            ScalingSteps =
            [
                new ScalingInterval { Upper = LagScaleInMs, Change = -1 },
                new ScalingInterval { Lower = LagScaleInMs, Change = 0 },
            ],
            AdjustmentType = AdjustmentType.CHANGE_IN_CAPACITY,
            EvaluationPeriods = ScaleInMinutes,
            Cooldown = ScaleInCooldown,
        });
    }

    public ScalableTaskCount TaskCount { get; }
}
