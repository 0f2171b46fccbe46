using Analytics.Streaming;

namespace Analytics.Grains.Metrics;

/// <summary>
/// The part of a metric grain's state written at every flush: watermarks, counters, the latest
/// event time per source, and only the buckets that changed since the last full snapshot.
/// </summary>
/// <remarks>
/// A fully retained metric is megabytes of buckets, but at any moment only a few of them change
/// (the current one of each tier, plus those hit by late-arriving events). Writing all of them every
/// second would make each flush cost the whole state. So the buckets live in a snapshot
/// (<see cref="MetricSnapshot"/>) rewritten rarely, and this small state carries the changed
/// buckets, which replace the snapshot's on load. Two snapshot slots alternate, and this state
/// names the one it builds on, so a crash between writing a snapshot and writing this state leaves
/// the previous, consistent pair in place. The watermarks travel with the changes they cover, in
/// one write.
/// </remarks>
public sealed class MetricState
{
    public StreamWatermarks Watermarks { get; set; } = new();

    /// <summary>True once any event of the metric was delivered.</summary>
    public bool Seen { get; set; }

    /// <summary>True once the metric is in the catalog.</summary>
    public bool Registered { get; set; }

    /// <summary>Events older than every retained bucket, since the metric was first seen.</summary>
    public long Late { get; set; }

    /// <summary>Generation of the snapshot the buckets below build on; 0 for none yet.</summary>
    public long SnapshotGeneration { get; set; }

    /// <summary>The slot (0 or 1) that holds that snapshot.</summary>
    public int SnapshotSlot { get; set; }

    /// <summary>Buckets changed since that snapshot, whole; each replaces the snapshot's bucket of the same tier and start.</summary>
    public List<BucketRecord> Buckets { get; set; } = [];

    /// <summary>Latest event time per source, for distinctSources.</summary>
    public Dictionary<string, long> SourceLatest { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Every bucket of a metric at one generation; written every few minutes.</summary>
public sealed class MetricSnapshot
{
    public long Generation { get; set; }

    public List<BucketRecord> Buckets { get; set; } = [];
}

/// <summary>One bucket as stored: exact aggregates, and the sketches in their binary forms.</summary>
public sealed class BucketRecord
{
    /// <summary>Bucket size in ms: which tier the bucket belongs to.</summary>
    public long Size { get; set; }

    public long Start { get; set; }

    public long Count { get; set; }

    public double Sum { get; set; }

    public double Min { get; set; }

    public double Max { get; set; }

    /// <summary>DDSketch.WriteTo.</summary>
    public byte[]? Sketch { get; set; }

    /// <summary>SpaceSavingTopK.WriteTo.</summary>
    public byte[]? Top { get; set; }
}
