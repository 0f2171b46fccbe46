using Analytics.Streaming;

namespace Analytics.Grains.Sources;

/// <summary>
/// A source group's persisted state: the group's watermarks, every source of the group by name,
/// and its dedup claims (<see cref="Deduplicator"/>): the claim segments that hold most of them,
/// and the newest claims inline. The watermarks and what they depend on are listed in one object,
/// so a write makes them durable at once: the segments are written before it, and a segment it
/// does not list does not count.
/// </summary>
/// <remarks>
/// It is stored as JSON by <see cref="Persistence.JsonGrainStateSerializer"/>; the inline claims
/// are a byte array, so base64 there. A state written before they existed has no such property
/// and loads with none.
/// </remarks>
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

    /// <summary>
    /// The claims in no segment, oldest first, in a segment's encoding (24 bytes a claim: key, item
    /// and arrival, little-endian). All of them are newer than every segment's, so they are loaded last.
    /// </summary>
    public byte[] InlineClaims { get; set; } = [];
}
