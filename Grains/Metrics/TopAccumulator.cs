using Analytics.Grains.Sketches;

namespace Analytics.Grains.Metrics;

/// <summary>
/// Merges the top-k sketches of a window's buckets in one pass, with the same bounds as pairwise
/// <see cref="SpaceSavingTopK.Merge"/> but without its cost (which would rebuild the accumulated
/// table once per bucket: quadratic over a day of minute buckets).
/// </summary>
/// <remarks>
/// A source absent from a bucket may still have occurred there up to that bucket's unmonitored
/// bound. So its count is the sum of its counts where present plus the bounds of the buckets where
/// absent, i.e. Σ_present (count − bound) + Σ_all bound, and likewise for the error. While every
/// bucket saw no more sources than its capacity, all bounds are 0 and everything is exact.
/// </remarks>
internal sealed class TopAccumulator
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _totalBound;

    public void Add(SpaceSavingTopK top)
    {
        var bound = top.UnmonitoredBound;
        _totalBound += bound;
        foreach (var e in top.Entries)
        {
            if (!_entries.TryGetValue(e.Source, out var entry))
            {
                _entries[e.Source] = entry = new Entry { Max = double.NegativeInfinity };
            }

            entry.Count += e.Count - bound;
            entry.Error += e.Error - bound;
            entry.Sum += e.Sum;
            entry.Max = Math.Max(entry.Max, e.Max);
        }
    }

    /// <summary>
    /// The first <paramref name="k"/> by the order; ties by count, then source name. Count is an
    /// upper bound (exact when the window's buckets were exact); Mean is over the events the
    /// sketches saw for the source.
    /// </summary>
    public IReadOnlyList<TopItem> Top(int k, TopOrder by)
    {
        var items = _entries.Select(pair =>
        {
            var count = pair.Value.Count + _totalBound;
            var seen = count - (pair.Value.Error + _totalBound);
            return new TopItem(pair.Key, count, pair.Value.Max, seen > 0 ? pair.Value.Sum / seen : pair.Value.Max);
        }).ToList();
        Comparison<TopItem> byCount = static (a, b) => b.Count != a.Count ? b.Count.CompareTo(a.Count) : string.CompareOrdinal(a.Source, b.Source);
        items.Sort(by switch
        {
            TopOrder.Count => byCount,
            TopOrder.Max => (a, b) => b.Max != a.Max ? b.Max.CompareTo(a.Max) : byCount(a, b),
            TopOrder.Mean => (a, b) => b.Mean != a.Mean ? b.Mean.CompareTo(a.Mean) : byCount(a, b),
            _ => throw new ArgumentOutOfRangeException(nameof(by), by, "by must be count, max or mean."),
        });
        return items.Take(k).ToList();
    }

    private sealed class Entry
    {
        public long Count;
        public long Error;
        public double Sum;
        public double Max;
    }
}
