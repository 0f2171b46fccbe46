using System.Text;
using Analytics.Events;
using Analytics.Streaming;

namespace Analytics.Grains.Streaming;

/// <summary>
/// Turns a record of the "events" provider (one event, a JSON array or NDJSON) into one item per
/// accepted event, keyed by the event's source. The item's token is the record's sequence with the
/// event's index in the record as sub-sequence, so every event has its own position for the
/// grains' watermarks and deduplication.
/// </summary>
/// <remarks>
/// Records come from the durable log, so they are read with
/// <see cref="EventValidationOptions.ForStoredEvents"/>: an event accepted once must never be
/// refused on replay (a clock that stepped back would otherwise make it look like the future).
/// A record that is unreadable, or holds some invalid events, is reported so that the runtime
/// keeps it in the dead-letter store; its valid events are still delivered.
/// </remarks>
public sealed class EventRecordDecoder(EventValidationOptions storedEventOptions, TimeProvider timeProvider) : IQueueRecordDecoder
{
    private const int ErrorsInReason = 3;

    public string? Decode(QueueRecord record, List<QueueItem> items)
    {
        // The time only matters for events without a timestamp, which our own writers never produce.
        var nowMs = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var result = EventParser.ParseRecord(record.Data.Span, nowMs, storedEventOptions);
        if (result.IsFatal)
        {
            return result.FatalError;
        }

        // Items are numbered from the record's own sub-sequence: 0 for a plain record, and a
        // multiple of 65,536 for a user record de-aggregated from a KPL record, so the items of
        // different user records of one aggregate never share a token.
        var accepted = result.Accepted;
        if (record.Position.SubSequence > 0 && accepted.Count >= 65_536)
        {
            // Only a KPL user record is bounded: its items would run into the next one's tokens.
            return $"the KPL user record holds {accepted.Count} events; at most 65,535 fit in one user record";
        }

        items.EnsureCapacity(items.Count + accepted.Count);
        for (var i = 0; i < accepted.Count; i++)
        {
            var e = accepted[i];
            items.Add(new QueueItem(e.Source, e, record.Position.WithSubSequence(record.Position.SubSequence + i)));
        }

        return result.Rejected == 0 ? null : DescribeRejections(result);
    }

    private static string DescribeRejections(EventParseResult result)
    {
        var reason = new StringBuilder();
        reason.Append(result.Rejected).Append(" of ").Append(result.Rejected + result.AcceptedElements).Append(" events in the record were rejected");
        foreach (var error in result.Errors.Take(ErrorsInReason))
        {
            reason.Append("; #").Append(error.Index).Append(": ").Append(error.Error);
        }

        return reason.ToString();
    }
}
