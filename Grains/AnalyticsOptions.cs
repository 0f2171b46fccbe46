using Analytics.Grains.Sketches;
using Analytics.Grains.Windows;
using Microsoft.Extensions.Options;

namespace Analytics.Grains;

/// <summary>
/// Settings of the analytics grains, bound from the <c>Analytics</c> configuration section.
/// </summary>
/// <remarks>
/// The tier lists start empty and mean "the defaults" while empty: configuration binding appends
/// to a list that already holds items, so pre-filled defaults could never be replaced from
/// appsettings, only extended.
/// </remarks>
public sealed class AnalyticsOptions
{
    public const string Section = "Analytics";

    public const int MaxSourceGroups = 65_536;

    /// <summary>The most <see cref="InlineClaims"/>: 512 KB of JSON, already more than one DynamoDB item holds.</summary>
    public const int MaxInlineClaims = 16_384;

    /// <summary>10 s buckets for 1 h, 1 min buckets for 24 h, 1 h buckets for 30 days.</summary>
    public static IReadOnlyList<RetentionTier> DefaultMetricTiers { get; } =
    [
        new(TimeSpan.FromSeconds(10), TimeSpan.FromHours(1)),
        new(TimeSpan.FromMinutes(1), TimeSpan.FromHours(24)),
        new(TimeSpan.FromHours(1), TimeSpan.FromDays(30)),
    ];

    /// <summary>1 min buckets for 1 h and 15 min buckets for 24 h: coarse, to keep a source's metric under 8 KB.</summary>
    public static IReadOnlyList<RetentionTier> DefaultSourceTiers { get; } =
    [
        new(TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)),
        new(TimeSpan.FromMinutes(15), TimeSpan.FromHours(24)),
    ];

    /// <summary>Retention tiers of the metric grains, finest first; empty means <see cref="DefaultMetricTiers"/>.</summary>
    public List<RetentionTier> MetricTiers { get; set; } = [];

    /// <summary>Retention tiers of the source grains, finest first; empty means <see cref="DefaultSourceTiers"/>.</summary>
    public List<RetentionTier> SourceTiers { get; set; } = [];

    /// <summary>Two events of one source with the same id are counted once when they arrive within this time (contract: 10 minutes).</summary>
    public TimeSpan DedupHorizon { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Sources tracked per metric bucket for top-k. Top-k is exact while no bucket sees more distinct
    /// sources than this; 64 keeps a fully retained metric with 10k sources within its 16 MB budget
    /// (see docs/PERFORMANCE.md) and is about 6x the default k of 10.
    /// </summary>
    public int TopKCapacity { get; set; } = 64;

    /// <summary>Sources whose latest event time a metric remembers for distinctSources; beyond it the least recent are forgotten.</summary>
    public int DistinctSourceCapacity { get; set; } = 100_000;

    /// <summary>A grain with unsaved changes writes its state at most this often (plus at every stream checkpoint).</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often a metric grain rewrites its full bucket snapshot; in between it writes only the buckets that changed.</summary>
    public TimeSpan CompactionInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A metric grain also compacts when this many buckets changed since the last snapshot.</summary>
    public int CompactionBucketThreshold { get; set; } = 256;

    /// <summary>
    /// How many source groups hold the sources (<see cref="Sources.SourceGroups"/>): a page's events
    /// go to each group in one call, and a group writes its sources in one state. More groups spread
    /// sources over more grains (and silos), with smaller states; fewer cost fewer calls and writes.
    /// Every silo must use the same number, and changing it starts the source data afresh (replay
    /// the stream to rebuild it); metric data does not depend on it.
    /// </summary>
    public int SourceGroups { get; set; } = 64;

    /// <summary>
    /// A source group writes its dedup claims that are in no segment yet inside its state while
    /// there are at most this many, and as a segment of their own (a write item, and later a
    /// delete) once there are more; 0 writes a segment whenever there is a new claim.
    /// </summary>
    /// <remarks>
    /// A claim is 24 bytes, base64 in the state's JSON: 32 bytes. The DynamoDB grain storage keeps
    /// a state of up to 64 KB in one item (its InlineThreshold) and chunks a larger one into more
    /// items, which costs at least the write item a segment would. 1,024 claims are 32 KB of JSON,
    /// which leaves a small group's state the other half of that item.
    /// </remarks>
    public int InlineClaims { get; set; } = 1024;

    /// <summary>The most points one series answer may hold.</summary>
    public int MaxSeriesPoints { get; set; } = 10_000;

    internal TierSet GetMetricTiers() => TierSet.From(MetricTiers.Count > 0 ? MetricTiers : DefaultMetricTiers);

    internal TierSet GetSourceTiers() => TierSet.From(SourceTiers.Count > 0 ? SourceTiers : DefaultSourceTiers);
}

/// <summary>Buckets of one size, kept for one retention period.</summary>
public sealed class RetentionTier
{
    public RetentionTier()
    {
    }

    public RetentionTier(TimeSpan bucketSize, TimeSpan retention)
    {
        BucketSize = bucketSize;
        Retention = retention;
    }

    public TimeSpan BucketSize { get; set; }

    public TimeSpan Retention { get; set; }

    public override string ToString() => $"{TierSet.Describe(BucketSize)} buckets for {TierSet.Describe(Retention)}";
}

internal sealed class AnalyticsOptionsValidator : IValidateOptions<AnalyticsOptions>
{
    public ValidateOptionsResult Validate(string? name, AnalyticsOptions options)
    {
        var errors = new List<string>();
        ValidateTiers(options.MetricTiers.Count > 0 ? options.MetricTiers : AnalyticsOptions.DefaultMetricTiers, "MetricTiers", errors);
        ValidateTiers(options.SourceTiers.Count > 0 ? options.SourceTiers : AnalyticsOptions.DefaultSourceTiers, "SourceTiers", errors);
        if (options.DedupHorizon <= TimeSpan.Zero)
        {
            errors.Add($"DedupHorizon must be positive, not {options.DedupHorizon}.");
        }

        if (options.TopKCapacity is < 1 or > SpaceSavingTopK.MaxCapacity)
        {
            errors.Add($"TopKCapacity must be between 1 and {SpaceSavingTopK.MaxCapacity}, not {options.TopKCapacity}.");
        }

        if (options.DistinctSourceCapacity < 1)
        {
            errors.Add($"DistinctSourceCapacity must be at least 1, not {options.DistinctSourceCapacity}.");
        }

        if (options.FlushInterval <= TimeSpan.Zero || options.CompactionInterval <= TimeSpan.Zero)
        {
            errors.Add("FlushInterval and CompactionInterval must be positive.");
        }

        if (options.SourceGroups is < 1 or > AnalyticsOptions.MaxSourceGroups)
        {
            errors.Add($"SourceGroups must be between 1 and {AnalyticsOptions.MaxSourceGroups}, not {options.SourceGroups}.");
        }

        if (options.InlineClaims is < 0 or > AnalyticsOptions.MaxInlineClaims)
        {
            errors.Add($"InlineClaims must be between 0 and {AnalyticsOptions.MaxInlineClaims}, not {options.InlineClaims}.");
        }

        if (options.CompactionBucketThreshold < 1 || options.MaxSeriesPoints < 1)
        {
            errors.Add("CompactionBucketThreshold and MaxSeriesPoints must be at least 1.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Each bucket size divides the next, each retention is a whole number of buckets and longer than the one before.</summary>
    internal static void ValidateTiers(IReadOnlyList<RetentionTier> tiers, string name, List<string> errors)
    {
        RetentionTier? previous = null;
        for (var i = 0; i < tiers.Count; i++)
        {
            var tier = tiers[i];
            var at = $"{name}[{i}]";
            if (tier.BucketSize <= TimeSpan.Zero || tier.BucketSize.Ticks % TimeSpan.TicksPerMillisecond != 0)
            {
                errors.Add($"{at}.BucketSize must be a positive whole number of milliseconds, not {tier.BucketSize}.");
                return;
            }

            if (tier.Retention < tier.BucketSize || tier.Retention.Ticks % tier.BucketSize.Ticks != 0)
            {
                errors.Add($"{at}.Retention ({tier.Retention}) must be a positive multiple of its BucketSize ({tier.BucketSize}).");
            }

            if (previous is not null)
            {
                if (tier.BucketSize.Ticks % previous.BucketSize.Ticks != 0 || tier.BucketSize <= previous.BucketSize)
                {
                    errors.Add($"{at}.BucketSize ({tier.BucketSize}) must be a larger multiple of the previous tier's ({previous.BucketSize}), so that its buckets are whole sets of finer ones.");
                }

                if (tier.Retention <= previous.Retention)
                {
                    errors.Add($"{at}.Retention ({tier.Retention}) must be longer than the previous tier's ({previous.Retention}); a coarser tier exists to keep data longer.");
                }
            }

            previous = tier;
        }
    }
}
