using Analytics.Streaming;

namespace Analytics.Grains.Sources;

/// <summary>
/// A source group's persisted state: the group's watermarks, every source of the group by name,
/// and the claim segments that hold its dedup claims (<see cref="Deduplicator"/>). The watermarks
/// and what they depend on are listed in one object, so a write makes them durable at once: the
/// segments are written before it, and a segment it does not list does not count.
/// </summary>
public sealed class SourceGroupState
{
    public StreamWatermarks Watermarks { get; set; } = new();

    public Dictionary<string, SourceRecord> Sources { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The claim segments, oldest first.</summary>
    public List<ClaimSegmentRef> ClaimSegments { get; set; } = [];

    /// <summary>
    /// The name the next segment will take. Declared here before it is written, so that a segment
    /// written just before a crash (which this state does not list) is found and deleted by the
    /// next write, which finds the name taken.
    /// </summary>
    public string NextSegment { get; set; } = ClaimSegmentStore.NewName();

    /// <summary>Segments to delete: expired, or orphans of a write that did not complete. Removed from the list once deleted.</summary>
    public List<string> RetiredSegments { get; set; } = [];
}
