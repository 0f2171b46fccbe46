namespace Analytics.Grains.Sketches;

public enum TopKOrder
{
    Count,
    Max,
    Mean,
}

/// <param name="Count">Upper bound on the source's true count; exact when <paramref name="ErrorBound"/> is 0.</param>
/// <param name="Max">Largest value seen for the source while it was retained.</param>
/// <param name="Mean">Mean of the values seen while retained: sum / (Count - ErrorBound).</param>
/// <param name="ErrorBound">How much <paramref name="Count"/> may overstate the true count.</param>
public sealed record TopKItem(string Source, long Count, double Max, double Mean, long ErrorBound);

/// <summary>A retained source's raw figures: the observations it was retained for are Count - Error, with that Sum.</summary>
public readonly record struct TopKEntry(string Source, long Count, long Error, double Sum, double Max);

/// <summary>
/// Heavy-hitter sketch (Space-Saving, Metwally et al. 2005) over pre-aggregated per-source observations, mergeable
/// across partitions.
/// </summary>
/// <remarks>
/// <para>
/// Keeps at most <see cref="Capacity"/> sources. While no more distinct sources than that have been seen, every
/// figure is exact. After that, a new source replaces the retained source with the smallest count and inherits
/// that count as both a head start and its error bound, so for every retained source
/// <c>Count - ErrorBound &lt;= true count &lt;= Count</c> (also after merges), and within a single stream any
/// source whose true count exceeds <c>TotalCount / Capacity</c> is guaranteed to be retained. Pick a capacity of
/// roughly 10x the k you report.
/// </para>
/// <para>
/// Sums and maxima are only collected while a source is retained, so <see cref="TopKOrder.Max"/> and
/// <see cref="TopKOrder.Mean"/> rankings are exact among retained sources only: a source with a huge max but a low
/// count may have been evicted and is then invisible.
/// </para>
/// <para>
/// Ties are broken by count (descending), then by ordinal source name, so results are deterministic.
/// Not thread-safe: callers (grains) are single-threaded by construction.
/// </para>
/// </remarks>
public sealed class SpaceSavingTopK
{
    public const int DefaultCapacity = 256;
    public const int MaxCapacity = 1 << 20;
    private const byte FormatVersion = 1;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    // Min-heap on Count so that both increments and evictions cost O(log capacity), not a scan.
    private readonly List<Entry> _heap = [];

    public SpaceSavingTopK(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, MaxCapacity);
        Capacity = capacity;
    }

    public int Capacity { get; }

    /// <summary>Sum of all counts added (including merged sketches).</summary>
    public long TotalCount { get; private set; }

    /// <summary>Number of sources currently retained.</summary>
    public int RetainedCount => _heap.Count;

    /// <summary>
    /// Upper bound on the true count of any source that is not retained; 0 while the sketch is exact.
    /// </summary>
    public long UnmonitoredBound { get; private set; }

    /// <summary>Records <paramref name="count"/> observations of <paramref name="source"/> with the given sum and max.</summary>
    public void Add(string source, long count, double sum, double max)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (!double.IsFinite(sum)) throw new ArgumentOutOfRangeException(nameof(sum), sum, "Sum must be finite.");
        if (!double.IsFinite(max)) throw new ArgumentOutOfRangeException(nameof(max), max, "Max must be finite.");

        TotalCount += count;
        if (_entries.TryGetValue(source, out var entry))
        {
            entry.Count += count;
            entry.Sum += sum;
            entry.Max = Math.Max(entry.Max, max);
            SiftDown(entry.HeapIndex);
            return;
        }

        if (_heap.Count < Capacity)
        {
            entry = new Entry { Source = source, Count = count, Sum = sum, Max = max, HeapIndex = _heap.Count };
            _entries.Add(source, entry);
            _heap.Add(entry);
            SiftUp(entry.HeapIndex);
            return;
        }

        // Evict the minimum and reuse its slot: the newcomer may have occurred up to `min` times unseen.
        var victim = _heap[0];
        long min = victim.Count;
        _entries.Remove(victim.Source);
        UnmonitoredBound = Math.Max(UnmonitoredBound, min);
        victim.Source = source;
        victim.Count = min + count;
        victim.Error = min;
        victim.Sum = sum;
        victim.Max = max;
        _entries.Add(source, victim);
        SiftDown(0);
    }

    /// <summary>
    /// Folds <paramref name="other"/> into this sketch (capacity stays this sketch's).
    /// </summary>
    /// <remarks>
    /// Counts of common sources add up. A source missing from one side may still have occurred there up to that
    /// side's <see cref="UnmonitoredBound"/> times, so that bound is added to both its count and its error (it is 0
    /// for an exact side, keeping exact merges exact). The top <see cref="Capacity"/> by count are then kept.
    /// </remarks>
    public void Merge(SpaceSavingTopK other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ReferenceEquals(other, this)) other = other.Clone();

        long myBound = UnmonitoredBound, theirBound = other.UnmonitoredBound;
        var merged = new Dictionary<string, Entry>(_entries.Count + other._entries.Count, StringComparer.Ordinal);
        foreach (var mine in _heap)
        {
            merged.Add(mine.Source, new Entry
            {
                Source = mine.Source,
                Count = mine.Count + theirBound,
                Error = mine.Error + theirBound,
                Sum = mine.Sum,
                Max = mine.Max,
            });
        }
        foreach (var theirs in other._heap)
        {
            if (merged.TryGetValue(theirs.Source, out var entry))
            {
                // Undo the "missing on their side" allowance: they did see it.
                entry.Count += theirs.Count - theirBound;
                entry.Error += theirs.Error - theirBound;
                entry.Sum += theirs.Sum;
                entry.Max = Math.Max(entry.Max, theirs.Max);
            }
            else
            {
                merged.Add(theirs.Source, new Entry
                {
                    Source = theirs.Source,
                    Count = theirs.Count + myBound,
                    Error = theirs.Error + myBound,
                    Sum = theirs.Sum,
                    Max = theirs.Max,
                });
            }
        }

        var all = merged.Values.ToList();
        long bound = myBound + theirBound;
        if (all.Count > Capacity)
        {
            all.Sort(static (a, b) => CompareByCountDescending(a, b));
            for (int i = Capacity; i < all.Count; i++) bound = Math.Max(bound, all[i].Count);
            all.RemoveRange(Capacity, all.Count - Capacity);
        }

        TotalCount += other.TotalCount;
        UnmonitoredBound = bound;
        Rebuild(all);
    }

    /// <summary>The top <paramref name="k"/> retained sources by the given measure (fewer if fewer are retained).</summary>
    public IReadOnlyList<TopKItem> Top(int k, TopKOrder by = TopKOrder.Count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        Comparison<Entry> comparison = by switch
        {
            TopKOrder.Count => CompareByCountDescending,
            TopKOrder.Max => static (a, b) => Then(b.Max.CompareTo(a.Max), a, b),
            TopKOrder.Mean => static (a, b) => Then(b.Mean.CompareTo(a.Mean), a, b),
            _ => throw new ArgumentOutOfRangeException(nameof(by), by, "Unknown order."),
        };
        if (k == 0 || _heap.Count == 0) return [];

        var sorted = _heap.ToArray();
        Array.Sort(sorted, comparison);
        int n = Math.Min(k, sorted.Length);
        var result = new TopKItem[n];
        for (int i = 0; i < n; i++)
        {
            var e = sorted[i];
            result[i] = new TopKItem(e.Source, e.Count, e.Max, e.Mean, e.Error);
        }
        return result;

        static int Then(int primary, Entry a, Entry b) => primary != 0 ? primary : CompareByCountDescending(a, b);
    }

    /// <summary>
    /// Every retained source's raw figures, in no particular order. For callers that fold many
    /// sketches at once, which pairwise <see cref="Merge"/> would make quadratic.
    /// </summary>
    public IEnumerable<TopKEntry> Entries => _heap.Select(static e => new TopKEntry(e.Source, e.Count, e.Error, e.Sum, e.Max));

    public SpaceSavingTopK Clone()
    {
        var copy = new SpaceSavingTopK(Capacity) { TotalCount = TotalCount, UnmonitoredBound = UnmonitoredBound };
        copy.Rebuild(_heap.Select(static e => e.Copy()).ToList());
        return copy;
    }

    public void WriteTo(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(FormatVersion);
        writer.Write7BitEncodedInt(Capacity);
        writer.Write7BitEncodedInt64(TotalCount);
        writer.Write7BitEncodedInt64(UnmonitoredBound);
        writer.Write7BitEncodedInt(_heap.Count);
        // Heap order, so that reading back reproduces the exact same heap (and hence the same future evictions).
        foreach (var e in _heap)
        {
            writer.Write(e.Source);
            writer.Write7BitEncodedInt64(e.Count);
            writer.Write7BitEncodedInt64(e.Error);
            writer.Write(e.Sum);
            writer.Write(e.Max);
        }
    }

    /// <exception cref="InvalidDataException">The stream is truncated or not a sketch of this format.</exception>
    public static SpaceSavingTopK ReadFrom(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        try
        {
            byte version = reader.ReadByte();
            if (version != FormatVersion) throw new InvalidDataException($"Unsupported top-k format version {version}.");
            int capacity = reader.Read7BitEncodedInt();
            long total = reader.Read7BitEncodedInt64();
            long bound = reader.Read7BitEncodedInt64();
            int n = reader.Read7BitEncodedInt();
            if (capacity is <= 0 or > MaxCapacity || total < 0 || bound < 0 || n < 0 || n > capacity)
            {
                throw new InvalidDataException("Corrupt top-k header.");
            }

            var sketch = new SpaceSavingTopK(capacity) { TotalCount = total, UnmonitoredBound = bound };
            var entries = new List<Entry>(n);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < n; i++)
            {
                var e = new Entry
                {
                    Source = reader.ReadString(),
                    Count = reader.Read7BitEncodedInt64(),
                    Error = reader.Read7BitEncodedInt64(),
                    Sum = reader.ReadDouble(),
                    Max = reader.ReadDouble(),
                };
                if (!seen.Add(e.Source) || e.Count <= 0 || e.Error < 0 || e.Error >= e.Count
                    || !double.IsFinite(e.Sum) || !double.IsFinite(e.Max))
                {
                    throw new InvalidDataException("Corrupt top-k entry.");
                }
                entries.Add(e);
            }
            sketch.Rebuild(entries);
            return sketch;
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException)
        {
            throw new InvalidDataException("Truncated or corrupt top-k sketch.", e);
        }
    }

    private static int CompareByCountDescending(Entry a, Entry b)
    {
        int c = b.Count.CompareTo(a.Count);
        return c != 0 ? c : string.CompareOrdinal(a.Source, b.Source);
    }

    private void Rebuild(List<Entry> entries)
    {
        _entries.Clear();
        _heap.Clear();
        foreach (var e in entries)
        {
            e.HeapIndex = _heap.Count;
            _heap.Add(e);
            _entries.Add(e.Source, e);
        }
        for (int i = _heap.Count / 2 - 1; i >= 0; i--) SiftDown(i);
    }

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (_heap[parent].Count <= _heap[i].Count) break;
            Swap(i, parent);
            i = parent;
        }
    }

    private void SiftDown(int i)
    {
        int n = _heap.Count;
        while (true)
        {
            int left = 2 * i + 1;
            if (left >= n) break;
            int right = left + 1;
            int smallest = right < n && _heap[right].Count < _heap[left].Count ? right : left;
            if (_heap[i].Count <= _heap[smallest].Count) break;
            Swap(i, smallest);
            i = smallest;
        }
    }

    private void Swap(int i, int j)
    {
        (_heap[i], _heap[j]) = (_heap[j], _heap[i]);
        _heap[i].HeapIndex = i;
        _heap[j].HeapIndex = j;
    }

    private sealed class Entry
    {
        public required string Source;
        public long Count;
        public long Error;
        public double Sum;
        public double Max;
        public int HeapIndex;

        // Sum covers only the Count - Error observations actually seen for this source.
        public double Mean => Sum / (Count - Error);

        public Entry Copy() => new() { Source = Source, Count = Count, Error = Error, Sum = Sum, Max = Max };
    }
}
