using Analytics.Grains.Sketches;
using Analytics.Grains.Streaming;
using Analytics.Grains.Windows;

namespace Analytics.Grains.Metrics;

/// <summary>
/// A metric's event-time buckets in every retention tier, and the queries over them. No I/O and no
/// clock of its own: the grain passes "now", so tests drive it directly.
/// </summary>
/// <remarks>
/// Each event goes into its bucket in every tier that still retains that bucket, so each tier is
/// complete on its own and a query reads one tier only. An event no tier retains (older than the
/// coarsest tier's oldest bucket) is counted as late and aggregated nowhere.
/// <para>One writer (the grain's turn) and any number of readers: the HTTP API answers queries of
/// a metric whose grain is active in the same silo straight from this model, on the request's own
/// thread (<see cref="LocalMetrics"/>), so every member takes the model's lock. It is held for an
/// apply (microseconds) or a query (a fraction of a millisecond), never across an await.</para>
/// </remarks>
internal sealed class MetricModel
{
    private readonly TierSet _tiers;
    private readonly Dictionary<long, MetricBucket>[] _buckets;
    private readonly int _topCapacity;
    private readonly Lock _gate = new();

    // Buckets whose sketches are open objects; sealed back to bytes before each write.
    private readonly List<MetricBucket> _open = [];

    public MetricModel(TierSet tiers, int topCapacity, DistinctSources sources)
    {
        _tiers = tiers;
        _topCapacity = topCapacity;
        _buckets = new Dictionary<long, MetricBucket>[tiers.Count];
        for (var i = 0; i < tiers.Count; i++)
        {
            _buckets[i] = [];
        }

        Sources = sources;
    }

    public DistinctSources Sources { get; }

    public long Late { get; set; }

    public bool Seen { get; set; }

    public int BucketCount
    {
        get
        {
            lock (_gate)
            {
                return _buckets.Sum(b => b.Count);
            }
        }
    }

    public void Apply(MetricPartial partial, long nowMs)
    {
        lock (_gate)
        {
            Seen = true;
            foreach (var (start, events) in partial.Buckets)
            {
                var retained = false;
                for (var i = 0; i < _tiers.Count; i++)
                {
                    var tier = _tiers[i];
                    if (!tier.Covers(start, nowMs))
                    {
                        continue;
                    }

                    retained = true;
                    var bucketStart = tier.BucketOf(start);
                    if (!_buckets[i].TryGetValue(bucketStart, out var bucket))
                    {
                        _buckets[i][bucketStart] = bucket = new MetricBucket(bucketStart);
                    }

                    if (bucket.Add(events, _topCapacity))
                    {
                        _open.Add(bucket);
                    }
                }

                if (!retained)
                {
                    Late += events.Count;
                }
            }

            foreach (var (source, latest) in partial.LatestBySource)
            {
                Sources.Observe(source, latest);
            }
        }
    }

    /// <summary>Seals open buckets and drops what no tier retains any more. Call before writing.</summary>
    public void Maintain(long nowMs)
    {
        lock (_gate)
        {
            foreach (var bucket in _open)
            {
                bucket.Seal();
            }

            _open.Clear();
            for (var i = 0; i < _tiers.Count; i++)
            {
                var oldest = _tiers[i].OldestRetained(nowMs);
                foreach (var start in _buckets[i].Keys)
                {
                    if (start < oldest)
                    {
                        _buckets[i].Remove(start);
                    }
                }
            }

            Sources.Prune(_tiers.Coarsest.OldestRetained(nowMs));
        }
    }

    public MetricStats Stats(TimeSpan window, long nowMs)
    {
        lock (_gate)
        {
            var plan = _tiers.PlanWindow(window, nowMs, "metric");
            var total = new Aggregate();
            foreach (var bucket in _buckets[plan.Tier].Values)
            {
                if (bucket.Start >= plan.FromMs && bucket.Start < plan.ToMs)
                {
                    total.Add(bucket);
                }
            }

            return new MetricStats(
                plan.FromMs, plan.ToMs, total.Count, total.Sum, total.MinOrNull, total.MaxOrNull, total.Mean,
                total.Quantile(0.5), total.Quantile(0.9), total.Quantile(0.95), total.Quantile(0.99),
                Sources.CountSince(plan.FromMs), Late);
        }
    }

    public SeriesResult Series(long fromMs, long toMs, TimeSpan step, long nowMs, int maxPoints)
    {
        lock (_gate)
        {
            var plan = _tiers.PlanSeries(fromMs, toMs, step, nowMs, maxPoints);
            var points = new Aggregate?[plan.Points];
            foreach (var bucket in _buckets[plan.Tier].Values)
            {
                if (bucket.Start >= plan.StartMs && bucket.Start < plan.EndMs)
                {
                    (points[(bucket.Start - plan.StartMs) / plan.StepMs] ??= new Aggregate()).Add(bucket);
                }
            }

            var result = new SeriesPoint[plan.Points];
            for (var i = 0; i < plan.Points; i++)
            {
                var t = plan.StartMs + (i * plan.StepMs);
                result[i] = points[i] is { } p
                    ? new SeriesPoint(t, p.Count, p.Sum, p.MinOrNull, p.MaxOrNull, p.Mean, p.Quantile(0.5), p.Quantile(0.99))
                    : new SeriesPoint(t, 0, 0, null, null, null, null, null);
            }

            return new SeriesResult(plan.StepMs, result);
        }
    }

    public TopResult Top(TimeSpan window, int k, TopOrder by, long nowMs)
    {
        lock (_gate)
        {
            if (k < 1)
            {
                throw new ArgumentException($"k must be at least 1, not {k}.", nameof(k));
            }

            var plan = _tiers.PlanWindow(window, nowMs, "metric");
            var accumulator = new TopAccumulator();
            foreach (var bucket in _buckets[plan.Tier].Values)
            {
                if (bucket.Start >= plan.FromMs && bucket.Start < plan.ToMs && bucket.ReadTop() is { } top)
                {
                    accumulator.Add(top);
                }
            }

            return new TopResult(plan.FromMs, plan.ToMs, accumulator.Top(k, by));
        }
    }

    /// <summary>Every bucket, sealed, for a full snapshot.</summary>
    public List<BucketRecord> AllRecords() => Records(changedOnly: false);

    /// <summary>The buckets changed since the last snapshot, sealed.</summary>
    public List<BucketRecord> ChangedRecords() => Records(changedOnly: true);

    /// <summary>After a snapshot was written and the small state points at it.</summary>
    public void MarkSnapshotted()
    {
        lock (_gate)
        {
            foreach (var tier in _buckets)
            {
                foreach (var bucket in tier.Values)
                {
                    bucket.ChangedSinceSnapshot = false;
                }
            }
        }
    }

    public int ChangedCount
    {
        get
        {
            lock (_gate)
            {
                return _buckets.Sum(tier => tier.Values.Count(b => b.ChangedSinceSnapshot));
            }
        }
    }

    /// <summary>Loads stored buckets; a later record for the same tier and start replaces an earlier one.</summary>
    public void Load(IEnumerable<BucketRecord> records, bool changed)
    {
        lock (_gate)
        {
            foreach (var record in records)
            {
                var tier = IndexOfSize(record.Size);
                if (tier < 0)
                {
                    // A tier that the configuration no longer has: its buckets cannot be served.
                    continue;
                }

                var bucket = MetricBucket.FromRecord(record);
                bucket.ChangedSinceSnapshot = changed;
                _buckets[tier][record.Start] = bucket;
            }
        }
    }

    /// <summary>Approximate heap bytes of the buckets (objects plus sketch bytes), for the memory budget.</summary>
    public long EstimateBytes()
    {
        lock (_gate)
        {
            const long bucketObject = 96 + 48; // the bucket, its dictionary entry, two byte[] headers
            long bytes = 0;
            foreach (var tier in _buckets)
            {
                foreach (var bucket in tier.Values)
                {
                    bytes += bucketObject + bucket.PayloadBytes;
                }
            }

            return bytes;
        }
    }

    private List<BucketRecord> Records(bool changedOnly)
    {
        lock (_gate)
        {
            var records = new List<BucketRecord>();
            for (var i = 0; i < _tiers.Count; i++)
            {
                foreach (var bucket in _buckets[i].Values)
                {
                    if (!changedOnly || bucket.ChangedSinceSnapshot)
                    {
                        records.Add(bucket.ToRecord(_tiers[i].SizeMs));
                    }
                }
            }

            return records;
        }
    }

    private int IndexOfSize(long sizeMs)
    {
        for (var i = 0; i < _tiers.Count; i++)
        {
            if (_tiers[i].SizeMs == sizeMs)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Buckets merged for one answer.</summary>
    private sealed class Aggregate
    {
        private DDSketch? _sketch;

        public long Count { get; private set; }

        public double Sum { get; private set; }

        private double _min = double.PositiveInfinity;
        private double _max = double.NegativeInfinity;

        public double? MinOrNull => Count == 0 ? null : _min;

        public double? MaxOrNull => Count == 0 ? null : _max;

        public double? Mean => Count == 0 ? null : Sum / Count;

        public void Add(MetricBucket bucket)
        {
            Count += bucket.Count;
            Sum += bucket.Sum;
            _min = Math.Min(_min, bucket.Min);
            _max = Math.Max(_max, bucket.Max);
            bucket.MergeSketchInto(_sketch ??= new DDSketch(DDSketch.DefaultRelativeAccuracy));
        }

        public double? Quantile(double q) => _sketch?.Quantile(q);
    }
}
