namespace Analytics.Grains.Sources;

/// <summary>Count, sum, min and max of one bucket. 40 bytes, no object header.</summary>
internal struct Cell
{
    public long Start;
    public long Count;
    public double Sum;
    public double Min;
    public double Max;
}

/// <summary>
/// One tier of one source's metric: non-empty buckets as a sorted array of structs.
/// </summary>
/// <remarks>
/// Sources are many (10k and more per silo), so this is built for bytes rather than generality: an
/// array of 40-byte structs with no per-bucket object, grown only as far as the tier can hold (not
/// by doubling past it), and sparse, so a source that reports rarely pays for the buckets it fills
/// only. Events arrive mostly in time order, so inserts are almost always appends.
/// </remarks>
internal sealed class BucketSeries(long sizeMs)
{
    private Cell[] _cells = [];
    private int _count;

    public long SizeMs { get; } = sizeMs;

    public int Count => _count;

    public ReadOnlySpan<Cell> Cells => _cells.AsSpan(0, _count);

    /// <summary>Heap bytes of the cells array (for the memory budget).</summary>
    public long AllocatedBytes => 24 + (40L * _cells.Length);

    /// <param name="start">The bucket start (aligned to <see cref="SizeMs"/>).</param>
    /// <param name="capacity">How many buckets the tier keeps; the array grows no further than that unless it must.</param>
    public void Add(long start, double value, int capacity)
    {
        var index = Find(start);
        if (index >= 0)
        {
            ref var cell = ref _cells[index];
            cell.Count++;
            cell.Sum += value;
            cell.Min = Math.Min(cell.Min, value);
            cell.Max = Math.Max(cell.Max, value);
            return;
        }

        index = ~index;
        if (_count == _cells.Length)
        {
            var length = _count >= capacity ? _count + 4 : Math.Clamp(_count * 2, 4, capacity);
            Array.Resize(ref _cells, length);
        }

        Array.Copy(_cells, index, _cells, index + 1, _count - index);
        _cells[index] = new Cell { Start = start, Count = 1, Sum = value, Min = value, Max = value };
        _count++;
    }

    /// <summary>Drops buckets that start before <paramref name="oldestStart"/>.</summary>
    public void Prune(long oldestStart)
    {
        if (_count == 0 || _cells[0].Start >= oldestStart)
        {
            return;
        }

        var keepFrom = Find(oldestStart);
        keepFrom = keepFrom >= 0 ? keepFrom : ~keepFrom;
        Array.Copy(_cells, keepFrom, _cells, 0, _count - keepFrom);
        _count -= keepFrom;
    }

    /// <summary>
    /// Compact binary form: size, count, then per bucket the start as a delta in buckets, the count,
    /// and the sum (a bucket of one event has min = max = sum) or sum, min and max.
    /// </summary>
    public void WriteTo(BinaryWriter writer)
    {
        writer.Write7BitEncodedInt64(SizeMs);
        writer.Write7BitEncodedInt(_count);
        var previous = 0L;
        for (var i = 0; i < _count; i++)
        {
            ref readonly var cell = ref _cells[i];
            // Starts are positive multiples of the size and ascending, so the deltas are small and positive.
            writer.Write7BitEncodedInt64((cell.Start - previous) / SizeMs);
            previous = cell.Start;
            writer.Write7BitEncodedInt64(cell.Count);
            writer.Write(cell.Sum);
            if (cell.Count > 1)
            {
                writer.Write(cell.Min);
                writer.Write(cell.Max);
            }
        }
    }

    public static BucketSeries ReadFrom(BinaryReader reader)
    {
        var size = reader.Read7BitEncodedInt64();
        var count = reader.Read7BitEncodedInt();
        if (size <= 0 || count < 0)
        {
            throw new InvalidDataException("Corrupt bucket series header.");
        }

        var series = new BucketSeries(size) { _cells = new Cell[count], _count = count };
        var previous = 0L;
        for (var i = 0; i < count; i++)
        {
            var start = previous + (reader.Read7BitEncodedInt64() * size);
            var events = reader.Read7BitEncodedInt64();
            var sum = reader.ReadDouble();
            var (min, max) = events > 1 ? (reader.ReadDouble(), reader.ReadDouble()) : (sum, sum);
            series._cells[i] = new Cell { Start = start, Count = events, Sum = sum, Min = min, Max = max };
            previous = start;
        }

        return series;
    }

    private int Find(long start)
    {
        // Fast path: events come mostly in order, into the newest bucket.
        if (_count > 0 && _cells[_count - 1].Start == start)
        {
            return _count - 1;
        }

        if (_count > 0 && _cells[_count - 1].Start < start)
        {
            return ~_count;
        }

        var low = 0;
        var high = _count - 1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var value = _cells[middle].Start;
            if (value == start)
            {
                return middle;
            }

            if (value < start)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }

        return ~low;
    }
}
