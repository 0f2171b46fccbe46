using Analytics.Grains.Windows;

namespace Analytics.Grains.Sources;

/// <summary>The answers of a source's queries, computed from its record.</summary>
internal static class SourceQueries
{
    public static SourceSummary? Summary(SourceRecord record, WindowPlan plan)
    {
        if (record.FirstSeen is not { } firstSeen || record.LastSeen is not { } lastSeen)
        {
            return null;
        }

        var metrics = new Dictionary<string, SourceMetricSummary>(record.Metrics.Count, StringComparer.Ordinal);
        foreach (var (name, metric) in record.Metrics)
        {
            var total = default(Totals);
            foreach (ref readonly var cell in metric.Tiers[plan.Tier].Cells)
            {
                if (cell.Start >= plan.FromMs && cell.Start < plan.ToMs)
                {
                    total.Add(cell);
                }
            }

            metrics[name] = new SourceMetricSummary(metric.Last, metric.LastTimestamp, total.Count, total.MinOrNull, total.MaxOrNull, total.Mean);
        }

        return new SourceSummary(firstSeen, lastSeen, metrics);
    }

    /// <remarks>Source buckets keep no value sketch (it would not fit 8 KB a metric), so P50 and P99 are always null.</remarks>
    public static SeriesResult Series(SourceMetric metric, SeriesPlan plan)
    {
        var totals = new Totals[plan.Points];
        foreach (ref readonly var cell in metric.Tiers[plan.Tier].Cells)
        {
            if (cell.Start >= plan.StartMs && cell.Start < plan.EndMs)
            {
                totals[(cell.Start - plan.StartMs) / plan.StepMs].Add(cell);
            }
        }

        var points = new SeriesPoint[plan.Points];
        for (var i = 0; i < points.Length; i++)
        {
            ref readonly var t = ref totals[i];
            points[i] = new SeriesPoint(plan.StartMs + (i * plan.StepMs), t.Count, t.Sum, t.MinOrNull, t.MaxOrNull, t.Mean, null, null);
        }

        return new SeriesResult(plan.StepMs, points);
    }

    /// <summary>Buckets merged for one answer.</summary>
    private struct Totals
    {
        public long Count;
        public double Sum;
        private double _min;
        private double _max;

        public readonly double? MinOrNull => Count == 0 ? null : _min;

        public readonly double? MaxOrNull => Count == 0 ? null : _max;

        public readonly double? Mean => Count == 0 ? null : Sum / Count;

        public void Add(in Cell cell)
        {
            _min = Count == 0 ? cell.Min : Math.Min(_min, cell.Min);
            _max = Count == 0 ? cell.Max : Math.Max(_max, cell.Max);
            Count += cell.Count;
            Sum += cell.Sum;
        }
    }
}
