using Analytics.Grains.Sketches;
using Analytics.Grains.Streaming;

namespace Analytics.Grains.Metrics;

/// <summary>
/// One bucket of one tier: exact count, sum, min and max, a DDSketch of the values, and a top-k
/// sketch of the sources.
/// </summary>
/// <remarks>
/// At rest the sketches are kept in their compact binary forms: that is what is written to storage
/// anyway, and it is several times smaller than the objects (a top-k entry is ~30 bytes written
/// against ~130 as objects), which is what keeps a fully retained metric within its memory budget.
/// A bucket that receives events opens its sketches as objects and is sealed back to bytes at the
/// next flush, so only the few buckets written to in the last second exist as objects, and a flush
/// re-encodes only those.
/// </remarks>
internal sealed class MetricBucket(long start)
{
    private byte[]? _sketchBytes;
    private byte[]? _topBytes;
    private DDSketch? _sketch;
    private SpaceSavingTopK? _top;

    public long Start { get; } = start;

    public long Count { get; private set; }

    public double Sum { get; private set; }

    public double Min { get; private set; } = double.PositiveInfinity;

    public double Max { get; private set; } = double.NegativeInfinity;

    /// <summary>True while the sketches are open objects that differ from their bytes.</summary>
    public bool IsOpen => _sketch is not null || _top is not null;

    /// <summary>Changed since the last full snapshot: it goes into the small state at every flush.</summary>
    public bool ChangedSinceSnapshot { get; set; }

    /// <summary>Folds a batch's events of this bucket in; true if the bucket was sealed before (the caller tracks open buckets).</summary>
    public bool Add(PartialBucket partial, int topCapacity)
    {
        var wasSealed = !IsOpen;
        Count += partial.Count;
        Sum += partial.Sum;
        Min = Math.Min(Min, partial.Min);
        Max = Math.Max(Max, partial.Max);
        _sketch ??= _sketchBytes is null ? new DDSketch(DDSketch.DefaultRelativeAccuracy) : Decode(_sketchBytes, DDSketch.ReadFrom);
        _sketch.Merge(partial.Sketch);
        _top ??= _topBytes is null ? new SpaceSavingTopK(topCapacity) : Decode(_topBytes, SpaceSavingTopK.ReadFrom);
        foreach (var (source, aggregate) in partial.Sources)
        {
            // A source's sum can only overflow with values near double.MaxValue; top-k needs it finite.
            _top.Add(source, aggregate.Count, Math.Clamp(aggregate.Sum, -double.MaxValue, double.MaxValue), aggregate.Max);
        }

        ChangedSinceSnapshot = true;
        return wasSealed;
    }

    /// <summary>Writes the open sketches back to bytes and lets the objects go.</summary>
    public void Seal()
    {
        if (_sketch is not null)
        {
            _sketchBytes = Encode(_sketch.WriteTo);
            _sketch = null;
        }

        if (_top is not null)
        {
            _topBytes = Encode(_top.WriteTo);
            _top = null;
        }
    }

    /// <summary>Merges this bucket's values into <paramref name="target"/> without changing the bucket.</summary>
    public void MergeSketchInto(DDSketch target)
    {
        if (_sketch is not null)
        {
            target.Merge(_sketch);
        }
        else if (_sketchBytes is not null)
        {
            target.Merge(Decode(_sketchBytes, DDSketch.ReadFrom));
        }
    }

    /// <summary>The top-k sketch for reading; never modify it (it may be the live one).</summary>
    public SpaceSavingTopK? ReadTop() => _top ?? (_topBytes is null ? null : Decode(_topBytes, SpaceSavingTopK.ReadFrom));

    /// <summary>Bytes held, for memory accounting.</summary>
    public long PayloadBytes => (_sketchBytes?.Length ?? 0) + (_topBytes?.Length ?? 0);

    public BucketRecord ToRecord(long sizeMs)
    {
        Seal();
        return new BucketRecord { Size = sizeMs, Start = Start, Count = Count, Sum = Sum, Min = Min, Max = Max, Sketch = _sketchBytes, Top = _topBytes };
    }

    public static MetricBucket FromRecord(BucketRecord record) => new(record.Start)
    {
        Count = record.Count,
        Sum = record.Sum,
        Min = record.Min,
        Max = record.Max,
        _sketchBytes = record.Sketch,
        _topBytes = record.Top,
    };

    private static byte[] Encode(Action<BinaryWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream))
        {
            write(writer);
        }

        return stream.ToArray();
    }

    private static T Decode<T>(byte[] bytes, Func<BinaryReader, T> read)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes, writable: false));
        return read(reader);
    }
}
