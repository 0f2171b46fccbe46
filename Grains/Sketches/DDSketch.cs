namespace Analytics.Grains.Sketches;

/// <summary>
/// Mergeable quantile sketch with a relative-error guarantee (DDSketch, Masson, Rim &amp; Lee, VLDB 2019).
/// </summary>
/// <remarks>
/// <para>
/// Rank convention: <see cref="Quantile"/> answers for the "lower" quantile, i.e. the value at 0-based rank
/// <c>floor(q * (n - 1))</c> of the sorted input. We pick this (rather than interpolation) because only an
/// actual data point can be approximated within a relative bound; an interpolated value between two very
/// different neighbours has no such guarantee.
/// </para>
/// <para>
/// Guarantee: for that rank the answer is within <c>alpha * |x|</c> of the true value <c>x</c>, provided
/// <c>|x| &gt;= <see cref="MinIndexableValue"/></c> and <c>x</c>'s bucket has not been collapsed. Values with
/// <c>|x| &lt; MinIndexableValue</c> are counted as zero, because a logarithmic mapping needs an unbounded
/// number of buckets near zero. Answers are clamped into the exact observed [min, max], and q = 0 / q = 1 return
/// the exact min / max.
/// </para>
/// <para>
/// Memory bound: each sign keeps at most <see cref="MaxBucketsPerStore"/> buckets. When a store would need more,
/// the buckets of smallest magnitude are folded into the lowest surviving one ("collapsing lowest"). For the
/// positive store that is the smallest positives; for the negative store (indexed by |x|) it is the negatives
/// nearest zero. Folded values are then over-reported in magnitude, but they stay below (positives) or above
/// (negatives) every surviving bucket in sort order, so ranks are not disturbed and the tail quantiles that
/// latency-style metrics care about keep the full guarantee. With alpha = 0.01 and 2048 buckets one store spans
/// a ratio of about 6e17 between its largest and smallest magnitude before anything is collapsed; collapsing is
/// order-independent, so merged sketches equal a sketch fed all values directly. Arrays grow on demand, so
/// typical data (a few hundred buckets) costs a few KB; the worst case is 8 bytes x 2048 x 2 signs = 32 KB.
/// </para>
/// <para>Not thread-safe: callers (grains) are single-threaded by construction.</para>
/// </remarks>
public sealed class DDSketch
{
    public const double DefaultRelativeAccuracy = 0.01;
    public const int DefaultMaxBucketsPerStore = 2048;

    /// <summary>Magnitudes below this are counted as zero.</summary>
    public const double MinIndexableValue = 1e-9;

    // Lower bound keeps every index of a finite double within int range (|ln x| <= ~710, so
    // |index| <= 710 / (2 * 1e-6)); the upper bound only limits what a corrupt stream can ask for.
    private const double MinRelativeAccuracy = 1e-6;
    private const int MinBuckets = 8;
    private const int MaxBuckets = 1 << 24;
    private const byte FormatVersion = 1;

    private readonly double _lnGamma;
    private readonly double _invLnGamma;
    private readonly double _valueFactor;
    private Store _negative;
    private Store _positive;
    private long _zeroCount;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;

    public DDSketch(double relativeAccuracy = DefaultRelativeAccuracy, int maxBucketsPerStore = DefaultMaxBucketsPerStore)
    {
        if (!(relativeAccuracy >= MinRelativeAccuracy && relativeAccuracy < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(relativeAccuracy), relativeAccuracy,
                $"Relative accuracy must be in [{MinRelativeAccuracy}, 1).");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBucketsPerStore, MinBuckets);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxBucketsPerStore, MaxBuckets);

        RelativeAccuracy = relativeAccuracy;
        MaxBucketsPerStore = maxBucketsPerStore;
        double gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
        _lnGamma = Math.Log(gamma);
        _invLnGamma = 1 / _lnGamma;
        // Bucket i covers (gamma^(i-1), gamma^i]; 2*gamma^i/(1+gamma) is alpha away (relatively) from both ends.
        _valueFactor = 2 / (1 + gamma);
        _negative = new Store(maxBucketsPerStore);
        _positive = new Store(maxBucketsPerStore);
    }

    public double RelativeAccuracy { get; }

    public int MaxBucketsPerStore { get; }

    public long Count => _negative.Total + _zeroCount + _positive.Total;

    public bool IsEmpty => Count == 0;

    /// <summary>Exact smallest value added, or null when empty.</summary>
    public double? Min => IsEmpty ? null : _min;

    /// <summary>Exact largest value added, or null when empty.</summary>
    public double? Max => IsEmpty ? null : _max;

    /// <summary>
    /// True once either store has folded buckets, i.e. quantiles of the smallest magnitudes may exceed alpha.
    /// </summary>
    public bool HasCollapsed => _negative.HasCollapsed || _positive.HasCollapsed;

    public void Add(double value, long count = 1)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "Value must be a finite number.");
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);

        if (value >= MinIndexableValue) _positive.Add(Index(value), count);
        else if (value <= -MinIndexableValue) _negative.Add(Index(-value), count);
        else _zeroCount += count;

        if (value < _min) _min = value;
        if (value > _max) _max = value;
    }

    public void Merge(DDSketch other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.RelativeAccuracy != RelativeAccuracy)
        {
            throw new ArgumentException(
                $"Cannot merge sketches with different relative accuracy ({RelativeAccuracy} vs {other.RelativeAccuracy}).",
                nameof(other));
        }
        if (other.IsEmpty) return;
        if (ReferenceEquals(other, this)) other = other.Clone();

        _negative.MergeFrom(other._negative);
        _positive.MergeFrom(other._positive);
        _zeroCount += other._zeroCount;
        _min = Math.Min(_min, other._min);
        _max = Math.Max(_max, other._max);
    }

    /// <summary>
    /// Approximate value at rank <c>floor(q * (n - 1))</c>; null when the sketch is empty.
    /// </summary>
    public double? Quantile(double q)
    {
        if (!(q >= 0 && q <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(q), q, "Quantile must be in [0, 1].");
        }
        long n = Count;
        if (n == 0) return null;
        if (q == 0) return _min;
        if (q == 1) return _max;

        long rank = (long)Math.Floor(q * (n - 1));
        long negatives = _negative.Total;
        // Sorted order is negatives (largest |x| first, hence the reversed rank), zeros, positives.
        double value = rank < negatives ? -Value(_negative.IndexAtRank(negatives - 1 - rank))
            : rank < negatives + _zeroCount ? 0
            : Value(_positive.IndexAtRank(rank - negatives - _zeroCount));
        // Also absorbs the overflow to +/-Infinity of a representative above double.MaxValue.
        return Math.Clamp(value, _min, _max);
    }

    public DDSketch Clone()
    {
        var copy = (DDSketch)MemberwiseClone();
        copy._negative = _negative.Clone();
        copy._positive = _positive.Clone();
        return copy;
    }

    /// <summary>
    /// Writes a compact binary form: header, then each store as runs of non-empty buckets with varint counts.
    /// </summary>
    public void WriteTo(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(FormatVersion);
        writer.Write(RelativeAccuracy);
        writer.Write7BitEncodedInt(MaxBucketsPerStore);
        writer.Write((byte)((_negative.HasCollapsed ? 1 : 0) | (_positive.HasCollapsed ? 2 : 0)));
        writer.Write7BitEncodedInt64(_zeroCount);
        writer.Write(_min);
        writer.Write(_max);
        _negative.WriteTo(writer);
        _positive.WriteTo(writer);
    }

    /// <exception cref="InvalidDataException">The stream is truncated or not a sketch of this format.</exception>
    public static DDSketch ReadFrom(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        try
        {
            byte version = reader.ReadByte();
            if (version != FormatVersion) throw new InvalidDataException($"Unsupported DDSketch format version {version}.");
            double alpha = reader.ReadDouble();
            int maxBuckets = reader.Read7BitEncodedInt();
            if (!(alpha >= MinRelativeAccuracy && alpha < 1) || maxBuckets is < MinBuckets or > MaxBuckets)
            {
                throw new InvalidDataException("Corrupt DDSketch header.");
            }
            var sketch = new DDSketch(alpha, maxBuckets);
            byte flags = reader.ReadByte();
            sketch._zeroCount = reader.Read7BitEncodedInt64();
            double min = reader.ReadDouble();
            double max = reader.ReadDouble();
            // Any index outside what a finite double can map to is corruption (and could overflow offsets).
            int lowest = sketch.Index(MinIndexableValue), highest = sketch.Index(double.MaxValue);
            sketch._negative.ReadFrom(reader, lowest, highest);
            sketch._positive.ReadFrom(reader, lowest, highest);
            sketch._negative.HasCollapsed |= (flags & 1) != 0;
            sketch._positive.HasCollapsed |= (flags & 2) != 0;

            if (sketch._zeroCount < 0) throw new InvalidDataException("Negative zero count.");
            if (!sketch.IsEmpty)
            {
                if (!double.IsFinite(min) || !double.IsFinite(max) || min > max)
                {
                    throw new InvalidDataException("Corrupt DDSketch min/max.");
                }
                sketch._min = min;
                sketch._max = max;
            }
            return sketch;
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException or OverflowException)
        {
            throw new InvalidDataException("Truncated or corrupt DDSketch.", e);
        }
    }

    private int Index(double magnitude) => (int)Math.Ceiling(Math.Log(magnitude) * _invLnGamma);

    private double Value(int index) => Math.Exp(index * _lnGamma) * _valueFactor;

    /// <summary>
    /// Dense counts for one sign, indexed by bucket, capped at a fixed number of buckets by collapsing the lowest.
    /// </summary>
    private sealed class Store
    {
        private const int InitialLength = 64;

        private readonly int _maxBuckets;
        private long[] _counts = [];
        private int _offset;                 // bucket index held in _counts[0]
        private int _minIndex = int.MaxValue; // [min, max] encloses every non-empty bucket; empty when min > max
        private int _maxIndex = int.MinValue;

        public Store(int maxBuckets) => _maxBuckets = maxBuckets;

        public long Total { get; private set; }

        public bool HasCollapsed { get; set; }

        public Store Clone()
        {
            var copy = (Store)MemberwiseClone();
            copy._counts = (long[])_counts.Clone();
            return copy;
        }

        public void Add(int index, long count)
        {
            if (_minIndex > _maxIndex)
            {
                if (_counts.Length == 0) _counts = new long[Math.Min(InitialLength, _maxBuckets)];
                else Array.Clear(_counts);
                // Start centred so that the first few extensions in either direction need no copy.
                _offset = index - _counts.Length / 2;
                _minIndex = _maxIndex = index;
            }
            else if (index < _minIndex)
            {
                long lowest = (long)_maxIndex - _maxBuckets + 1;
                if (index < lowest)
                {
                    index = (int)lowest;
                    HasCollapsed = true;
                }
                if (index < _minIndex)
                {
                    EnsureCovers(index, _maxIndex, _minIndex, _maxIndex);
                    _minIndex = index;
                }
            }
            else if (index > _maxIndex)
            {
                int lo = _minIndex;
                long carried = 0;
                if ((long)index - _minIndex + 1 > _maxBuckets)
                {
                    lo = index - _maxBuckets + 1;
                    int end = Math.Min(lo - 1, _maxIndex);
                    for (int i = _minIndex; i <= end; i++)
                    {
                        carried += _counts[i - _offset];
                        _counts[i - _offset] = 0;
                    }
                    HasCollapsed = true;
                }
                EnsureCovers(lo, index, Math.Max(lo, _minIndex), _maxIndex);
                _minIndex = lo;
                _maxIndex = index;
                _counts[lo - _offset] += carried;
            }

            _counts[index - _offset] += count;
            Total += count;
        }

        public void MergeFrom(Store other)
        {
            // Highest first: the first call fixes the upper end (and any collapse), the rest only grow downwards.
            for (int i = other._maxIndex; i >= other._minIndex; i--)
            {
                long c = other._counts[i - other._offset];
                if (c != 0) Add(i, c);
            }
            HasCollapsed |= other.HasCollapsed;
        }

        /// <summary>Bucket index holding the element of 0-based ascending rank <paramref name="rank"/>.</summary>
        public int IndexAtRank(long rank)
        {
            long seen = 0;
            for (int i = _minIndex; i <= _maxIndex; i++)
            {
                seen += _counts[i - _offset];
                if (seen > rank) return i;
            }
            return _maxIndex;
        }

        public void WriteTo(BinaryWriter writer)
        {
            var runs = new List<(int Start, int End)>();
            for (int i = _minIndex; i <= _maxIndex; i++)
            {
                if (_counts[i - _offset] == 0) continue;
                int start = i;
                while (i < _maxIndex && _counts[i + 1 - _offset] != 0) i++;
                runs.Add((start, i));
            }

            writer.Write7BitEncodedInt(runs.Count);
            long previousEnd = 0;
            foreach (var (start, end) in runs)
            {
                // Gaps between runs are small and signed only for the first run, so zigzag keeps them 1-2 bytes.
                long delta = start - previousEnd;
                writer.Write7BitEncodedInt64((delta << 1) ^ (delta >> 63));
                writer.Write7BitEncodedInt(end - start + 1);
                for (int i = start; i <= end; i++) writer.Write7BitEncodedInt64(_counts[i - _offset]);
                previousEnd = end;
            }
        }

        public void ReadFrom(BinaryReader reader, int lowest, int highest)
        {
            int runCount = reader.Read7BitEncodedInt();
            if (runCount < 0) throw new InvalidDataException("Negative run count.");
            long previousEnd = 0;
            for (int r = 0; r < runCount; r++)
            {
                ulong zigzag = (ulong)reader.Read7BitEncodedInt64();
                long start = previousEnd + ((long)(zigzag >> 1) ^ -(long)(zigzag & 1));
                int length = reader.Read7BitEncodedInt();
                long end = start + length - 1;
                if (length <= 0 || start < lowest || end > highest || (r > 0 && start <= previousEnd))
                {
                    throw new InvalidDataException("Corrupt DDSketch bucket run.");
                }
                for (long i = start; i <= end; i++)
                {
                    long c = reader.Read7BitEncodedInt64();
                    if (c <= 0) throw new InvalidDataException("Non-positive DDSketch bucket count.");
                    Add((int)i, c);
                }
                previousEnd = end;
            }
        }

        /// <summary>
        /// Makes the array cover [lo, hi], keeping the counts of [keepLo, keepHi]; every other slot must be zero.
        /// </summary>
        private void EnsureCovers(int lo, int hi, int keepLo, int keepHi)
        {
            if (lo >= _offset && (long)hi < (long)_offset + _counts.Length) return;

            int needed = hi - lo + 1;
            int newLength = _counts.Length;
            if (newLength < needed) newLength = (int)Math.Min(_maxBuckets, Math.Max(needed, 2L * newLength));
            // Leave the spare room on the side we are growing towards; data tends to keep drifting that way.
            int newOffset = lo < _offset ? hi - newLength + 1 : lo;

            long[] target = newLength == _counts.Length ? _counts : new long[newLength];
            int keepLength = keepHi - keepLo + 1;
            if (keepLength > 0)
            {
                Array.Copy(_counts, keepLo - _offset, target, keepLo - newOffset, keepLength);
            }
            if (ReferenceEquals(target, _counts))
            {
                // In-place shift: wipe whatever the moved block did not overwrite.
                int keptStart = keepLength > 0 ? keepLo - newOffset : 0;
                int keptEnd = keepLength > 0 ? keptStart + keepLength : 0;
                Array.Clear(target, 0, keptStart);
                Array.Clear(target, keptEnd, target.Length - keptEnd);
            }
            _counts = target;
            _offset = newOffset;
        }
    }
}
