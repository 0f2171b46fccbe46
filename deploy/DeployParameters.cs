using System.Globalization;
using System.Text.RegularExpressions;
using Amazon.CDK.AWS.Logs;

namespace Analytics.Deploy;

/// <summary>
/// The stack's parameters, read from CDK context (<c>cdk deploy -c shardCount=8</c>, the
/// <c>context</c> of cdk.json, or <c>dotnet run --project deploy -- -c shardCount=8</c>). Every one
/// has a default, so a bare synth works; deploy/README.md lists them. They are synth-time values
/// rather than CloudFormation parameters because they shape the template (how many alarms, which
/// listener, which image source), and because a reviewed template should say what it creates.
/// </summary>
public sealed partial record DeployParameters
{
    /// <summary>Names the environment: every resource name and the stack name carry it, so two environments live side by side in one account.</summary>
    public string Environment { get; init; } = "prod";

    public int ShardCount { get; init; } = 6;

    /// <summary>At least three, one per availability zone, so that losing a zone leaves a quorum of silos.</summary>
    public int MinTasks { get; init; } = 3;

    public int MaxTasks { get; init; } = 6;

    /// <summary>Fargate CPU units (1024 = one vCPU) and memory in MiB, one of Fargate's combinations.</summary>
    public int TaskCpu { get; init; } = 1024;

    public int TaskMemoryMiB { get; init; } = 2048;

    /// <summary>An ECR repository of this account and region with a pushed silo image; unset: the image is built from deploy/Dockerfile at deploy time.</summary>
    public string? ImageRepository { get; init; }

    public string? ImageTag { get; init; }

    /// <summary>The SNS topic every alarm notifies; unset: the stack creates one, and its ARN is an output.</summary>
    public string? AlarmTopicArn { get; init; }

    /// <summary>An ACM certificate for HTTPS on the load balancer; unset: plain HTTP on port 80.</summary>
    public string? CertificateArn { get; init; }

    /// <summary>Who may reach the load balancer. The API has no authentication of its own.</summary>
    public string AllowedCidr { get; init; } = "0.0.0.0/0";

    public int NatGateways { get; init; } = 3;

    public int LogRetentionDays { get; init; } = 30;

    /// <summary>The iterator age (how far the silos read behind the stream's tip) that raises the alarm.</summary>
    public int IteratorAgeAlarmMs { get; init; } = 300_000;

    /// <summary>The share of requests answered 5xx, in percent, that raises the alarm.</summary>
    public double Http5xxAlarmPercent { get; init; } = 5;

    /// <summary>Lowercase, so that it can go into every AWS name (tables, the stream, the cluster, log groups).</summary>
    public string ResourcePrefix => $"analytics-{Environment}-";

    public string StackName => $"Analytics-{Environment}";

    public RetentionDays LogRetention => Retentions[LogRetentionDays];

    private static readonly Dictionary<int, RetentionDays> Retentions = new()
    {
        [1] = RetentionDays.ONE_DAY, [3] = RetentionDays.THREE_DAYS, [5] = RetentionDays.FIVE_DAYS,
        [7] = RetentionDays.ONE_WEEK, [14] = RetentionDays.TWO_WEEKS, [30] = RetentionDays.ONE_MONTH,
        [60] = RetentionDays.TWO_MONTHS, [90] = RetentionDays.THREE_MONTHS, [120] = RetentionDays.FOUR_MONTHS,
        [150] = RetentionDays.FIVE_MONTHS, [180] = RetentionDays.SIX_MONTHS, [365] = RetentionDays.ONE_YEAR,
        [400] = RetentionDays.THIRTEEN_MONTHS, [545] = RetentionDays.EIGHTEEN_MONTHS, [731] = RetentionDays.TWO_YEARS,
        [1827] = RetentionDays.FIVE_YEARS, [3653] = RetentionDays.TEN_YEARS,
    };

    /// <summary>Reads the parameters; a missing key keeps its default.</summary>
    /// <param name="context">The context value of a key, or null: <c>app.Node.TryGetContext</c>.</param>
    /// <exception cref="ArgumentException">A value that cannot be used, with the key it came from.</exception>
    public static DeployParameters FromContext(Func<string, object?> context)
    {
        var defaults = new DeployParameters();
        var parameters = new DeployParameters
        {
            Environment = Text(context, "environment") ?? defaults.Environment,
            ShardCount = Integer(context, "shardCount") ?? defaults.ShardCount,
            MinTasks = Integer(context, "minTasks") ?? defaults.MinTasks,
            MaxTasks = Integer(context, "maxTasks") ?? defaults.MaxTasks,
            TaskCpu = Integer(context, "taskCpu") ?? defaults.TaskCpu,
            TaskMemoryMiB = Integer(context, "taskMemory") ?? defaults.TaskMemoryMiB,
            ImageRepository = Text(context, "imageRepository"),
            ImageTag = Text(context, "imageTag"),
            AlarmTopicArn = Text(context, "alarmTopicArn"),
            CertificateArn = Text(context, "certificateArn"),
            AllowedCidr = Text(context, "allowedCidr") ?? defaults.AllowedCidr,
            NatGateways = Integer(context, "natGateways") ?? defaults.NatGateways,
            LogRetentionDays = Integer(context, "logRetentionDays") ?? defaults.LogRetentionDays,
            IteratorAgeAlarmMs = Integer(context, "iteratorAgeAlarmMs") ?? defaults.IteratorAgeAlarmMs,
            Http5xxAlarmPercent = Number(context, "http5xxAlarmPercent") ?? defaults.Http5xxAlarmPercent,
        };
        parameters.Validate();
        return parameters;
    }

    private void Validate()
    {
        Require(EnvironmentName().IsMatch(Environment), "environment", $"'{Environment}' must be 1-20 lowercase letters, digits or '-', starting with a letter.");
        Require(ShardCount is >= 1 and <= 500, "shardCount", $"{ShardCount} must be between 1 and 500.");
        Require(MinTasks >= 3, "minTasks", $"{MinTasks} must be at least 3: one silo per availability zone.");
        Require(MaxTasks >= MinTasks && MaxTasks <= 100, "maxTasks", $"{MaxTasks} must be between minTasks ({MinTasks}) and 100.");
        Require(FargateSizes.IsValid(TaskCpu, TaskMemoryMiB), "taskCpu/taskMemory", $"{TaskCpu} CPU units with {TaskMemoryMiB} MiB is not a Fargate task size. {FargateSizes.Describe()}");
        Require((ImageRepository is null) == (ImageTag is null), "imageRepository/imageTag", "give both (an image pushed to ECR) or neither (build deploy/Dockerfile).");
        Require(AlarmTopicArn is null || AlarmTopicArn.StartsWith("arn:", StringComparison.Ordinal) && AlarmTopicArn.Contains(":sns:", StringComparison.Ordinal), "alarmTopicArn", $"'{AlarmTopicArn}' is not an SNS topic ARN.");
        Require(CertificateArn is null || CertificateArn.StartsWith("arn:", StringComparison.Ordinal) && CertificateArn.Contains(":acm:", StringComparison.Ordinal), "certificateArn", $"'{CertificateArn}' is not an ACM certificate ARN.");
        Require(Cidr().IsMatch(AllowedCidr), "allowedCidr", $"'{AllowedCidr}' is not an IPv4 CIDR block such as 203.0.113.0/24.");
        Require(NatGateways is >= 1 and <= 3, "natGateways", $"{NatGateways} must be 1, 2 or 3: the silos' private subnets reach AWS through them.");
        Require(Retentions.ContainsKey(LogRetentionDays), "logRetentionDays", $"{LogRetentionDays} is not a retention CloudWatch Logs offers ({string.Join(", ", Retentions.Keys)}).");
        Require(IteratorAgeAlarmMs is >= 1_000 and <= 43_200_000, "iteratorAgeAlarmMs", $"{IteratorAgeAlarmMs} must be between 1000 and 43200000 (half of the stream's 24 h retention).");
        Require(Http5xxAlarmPercent is > 0 and <= 100, "http5xxAlarmPercent", $"{Http5xxAlarmPercent} must be above 0 and at most 100.");
    }

    private static void Require(bool condition, string key, string message)
    {
        if (!condition)
        {
            throw new ArgumentException($"context '{key}': {message}");
        }
    }

    private static string? Text(Func<string, object?> context, string key) =>
        Convert.ToString(context(key), CultureInfo.InvariantCulture) is { Length: > 0 } text ? text.Trim() : null;

    private static int? Integer(Func<string, object?> context, string key) =>
        Text(context, key) is not { } text ? null
        : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value
        : throw new ArgumentException($"context '{key}': '{text}' is not a whole number.");

    private static double? Number(Func<string, object?> context, string key) =>
        Text(context, key) is not { } text ? null
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value
        : throw new ArgumentException($"context '{key}': '{text}' is not a number.");

    [GeneratedRegex("^[a-z][a-z0-9-]{0,19}$")]
    private static partial Regex EnvironmentName();

    [GeneratedRegex(@"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$")]
    private static partial Regex Cidr();
}

/// <summary>The CPU and memory pairs Fargate accepts (Linux, x86_64).</summary>
internal static class FargateSizes
{
    // CPU units -> (least MiB, most MiB, step MiB).
    private static readonly Dictionary<int, (int Min, int Max, int Step)> Memory = new()
    {
        [512] = (1024, 4096, 1024),
        [1024] = (2048, 8192, 1024),
        [2048] = (4096, 16384, 1024),
        [4096] = (8192, 30720, 1024),
        [8192] = (16384, 61440, 4096),
        [16384] = (32768, 122880, 8192),
    };

    public static bool IsValid(int cpu, int memory) =>
        cpu == 256
            ? memory is 512 or 1024 or 2048
            : Memory.TryGetValue(cpu, out var range) && memory >= range.Min && memory <= range.Max && (memory - range.Min) % range.Step == 0;

    public static string Describe() =>
        "Fargate takes 256 CPU units with 512, 1024 or 2048 MiB, and "
        + string.Join("; ", Memory.Select(m => $"{m.Key} with {m.Value.Min}-{m.Value.Max} MiB in steps of {m.Value.Step}")) + ".";
}
