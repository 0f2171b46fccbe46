using System.Globalization;
using Analytics.Events;

namespace Analytics.Grains.Windows;

/// <summary>One retention tier in milliseconds.</summary>
/// <remarks>
/// A tier keeps the bucket that holds "now" and the buckets of the full retention before it, so
/// <c>Retention / Size + 1</c> buckets (plus any ahead of now). The extra bucket lets a window of
/// exactly the retention, which starts part-way into a bucket, still be served whole.
/// </remarks>
internal readonly record struct Tier(long SizeMs, long RetentionMs)
{
    /// <summary>Start of the oldest bucket this tier still keeps at <paramref name="nowMs"/>.</summary>
    public long OldestRetained(long nowMs) => TierSet.AlignDown(nowMs, SizeMs) - RetentionMs;

    /// <summary>True when the bucket holding <paramref name="timestampMs"/> is retained at <paramref name="nowMs"/>.</summary>
    public bool Covers(long timestampMs, long nowMs) => timestampMs >= OldestRetained(nowMs);

    public long BucketOf(long timestampMs) => TierSet.AlignDown(timestampMs, SizeMs);
}

/// <summary>A bucket-aligned time range [FromMs, ToMs) answered from one tier.</summary>
internal readonly record struct WindowPlan(int Tier, long FromMs, long ToMs);

/// <summary>Points t0, t0 + step, ... (Points of them) answered from one tier.</summary>
internal readonly record struct SeriesPlan(int Tier, long StartMs, long StepMs, int Points)
{
    public long EndMs => StartMs + (StepMs * Points);
}

/// <summary>
/// The tiers of a grain, finest first, and the rules that pick a tier for a query. Every rule
/// throws <see cref="ArgumentException"/> with a message a person can act on (the HTTP layer
/// answers 400 with it).
/// </summary>
internal sealed class TierSet
{
    private TierSet(Tier[] tiers) => Tiers = tiers;

    public IReadOnlyList<Tier> Tiers { get; }

    public int Count => Tiers.Count;

    public Tier Finest => Tiers[0];

    public Tier Coarsest => Tiers[^1];

    public Tier this[int index] => Tiers[index];

    public static TierSet From(IReadOnlyList<RetentionTier> tiers)
    {
        if (tiers.Count == 0)
        {
            throw new ArgumentException("At least one retention tier is needed.", nameof(tiers));
        }

        return new TierSet(tiers.Select(t => new Tier((long)t.BucketSize.TotalMilliseconds, (long)t.Retention.TotalMilliseconds)).ToArray());
    }

    /// <summary>Floor to a multiple of <paramref name="size"/>, also for negative times.</summary>
    public static long AlignDown(long time, long size)
    {
        var remainder = time % size;
        return remainder < 0 ? time - remainder - size : time - remainder;
    }

    /// <summary>
    /// The buckets covering [now - window, now]: from the bucket holding now - window to the one
    /// holding now, in the finest tier whose retention is at least the window.
    /// </summary>
    public WindowPlan PlanWindow(TimeSpan window, long nowMs, string keeper)
    {
        if (window <= TimeSpan.Zero)
        {
            throw new ArgumentException($"window must be positive, not {Describe(window)}.", nameof(window));
        }

        var windowMs = (long)Math.Ceiling(window.TotalMilliseconds);
        for (var i = 0; i < Tiers.Count; i++)
        {
            var tier = Tiers[i];
            if (windowMs <= tier.RetentionMs)
            {
                return new WindowPlan(i, tier.BucketOf(nowMs - windowMs), tier.BucketOf(nowMs) + tier.SizeMs);
            }
        }

        throw new ArgumentException(
            $"window {Describe(window)} is longer than the {Describe(TimeSpan.FromMilliseconds(Coarsest.RetentionMs))} of history a {keeper} keeps; use a window of at most {Describe(TimeSpan.FromMilliseconds(Coarsest.RetentionMs))}.",
            nameof(window));
    }

    /// <summary>
    /// Points aligned to multiples of the step, from the one holding <paramref name="fromMs"/> up to
    /// <paramref name="toMs"/> (exclusive), from the finest tier that still holds the first point.
    /// Points before the coarsest tier's retention come out empty.
    /// </summary>
    public SeriesPlan PlanSeries(long fromMs, long toMs, TimeSpan step, long nowMs, int maxPoints)
    {
        if (step <= TimeSpan.Zero || step.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            throw new ArgumentException($"step must be a positive whole number of milliseconds, not {Describe(step)}.", nameof(step));
        }

        if (fromMs >= toMs)
        {
            throw new ArgumentException($"from ({TimestampParser.Format(fromMs)}) must be before to ({TimestampParser.Format(toMs)}).", nameof(fromMs));
        }

        var stepMs = (long)step.TotalMilliseconds;
        var start = AlignDown(fromMs, stepMs);
        var index = 0;
        while (index < Tiers.Count - 1 && !Tiers[index].Covers(start, nowMs))
        {
            index++;
        }

        var tier = Tiers[index];
        if (stepMs % tier.SizeMs != 0)
        {
            var size = TimeSpan.FromMilliseconds(tier.SizeMs);
            var kept = index == 0
                ? $"the last {Describe(TimeSpan.FromMilliseconds(tier.RetentionMs))}"
                : $"data older than {Describe(TimeSpan.FromMilliseconds(Tiers[index - 1].RetentionMs))}";
            throw new ArgumentException(
                $"step {Describe(step)} is not a multiple of {Describe(size)}, the bucket size kept for {kept} (the range starts at {TimestampParser.Format(start)}); use a step that is a multiple of {Describe(size)}.",
                nameof(step));
        }

        var points = ((toMs - start) + stepMs - 1) / stepMs;
        if (points > maxPoints)
        {
            throw new ArgumentException(
                $"from..to at step {Describe(step)} gives {points} points; the most is {maxPoints}. Use a larger step or a shorter range.", nameof(step));
        }

        return new SeriesPlan(index, start, stepMs, (int)points);
    }

    /// <summary>A duration as the contract writes it (5m, 1h), falling back to milliseconds.</summary>
    public static string Describe(TimeSpan value) =>
        value > TimeSpan.Zero && value.Ticks % TimeSpan.TicksPerSecond == 0
            ? DurationParser.Format(value)
            : string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds}ms");
}
