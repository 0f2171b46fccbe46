using Analytics.Streaming;

namespace Analytics.Grains.Sources;

/// <summary>
/// A source group's persisted state: the group's watermarks and every source of the group by name.
/// The watermarks and the records it names are one object, so a write makes both durable at once.
/// </summary>
public sealed class SourceGroupState
{
    public StreamWatermarks Watermarks { get; set; } = new();

    public Dictionary<string, SourceRecord> Sources { get; set; } = new(StringComparer.Ordinal);
}
