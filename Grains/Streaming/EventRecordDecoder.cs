using System.Text;
using Analytics.Events;
using Analytics.Runtime.Streaming;

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
public sealed class EventRecordDecoder(EventValidationOptions storedEventOptions, TimeProvider timeProvider) : IStreamRecordDecoder
{
    private const int ErrorsInReason = 3;

    public string? Decode(QueueRecord record, List<StreamItem> items)
    {
        // The time only matters for events without a timestamp, which our own writers never produce.
        var nowMs = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var result = EventParser.ParseRecord(record.Data.Span, nowMs, storedEventOptions);
        if (result.IsFatal)
        {
            return result.FatalError;
        }

        var accepted = result.Accepted;
        for (var i = 0; i < accepted.Count; i++)
        {
            var e = accepted[i];
            items.Add(new StreamItem(new StreamId(AnalyticsStreams.Namespace, e.Source), e, new StreamSequenceToken(record.Token.Sequence, i)));
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
