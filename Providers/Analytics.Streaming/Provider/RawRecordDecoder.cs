namespace Analytics.Streaming;

/// <summary>The decoder of a provider that has none registered: one item per record, whose value is the record's bytes.</summary>
public sealed class RawRecordDecoder : IQueueRecordDecoder
{
    public static RawRecordDecoder Instance { get; } = new();

    public string? Decode(QueueRecord record, List<QueueItem> items)
    {
        items.Add(new QueueItem(record.StreamKey, record.Data, record.Position));
        return null;
    }
}
