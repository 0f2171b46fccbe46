using System.Buffers;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Streaming;

namespace Analytics.Silo.Ingest;

/// <summary>
/// The write path shared by POST /api/events and the simulator: validate, then append the
/// accepted events to the event stream and return only once every record is durable. Events are
/// packed into one record per queue (all the sources that share a local-log partition), so a
/// batch costs a few rows rather than one per source; each source's events still stay in one
/// queue and in order. With Kinesis, where every partition key is its own affinity, this
/// degenerates to one record per source.
/// </summary>
public sealed class EventIngestor(
    [FromKeyedServices(AnalyticsStreams.Provider)] IQueueWriter writer,
    TimeProvider timeProvider,
    EventValidationOptions validation)
{
    public long NowMs => timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    public EventParseResult Parse(ReadOnlySpan<byte> body, bool ndjson) => EventParser.ParseBody(body, ndjson, NowMs, validation);

    public async Task AppendAsync(IReadOnlyList<AnalyticsEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        var byQueue = new Dictionary<string, (string Source, List<AnalyticsEvent> Events)>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            var affinity = writer.GetQueueAffinity(e.Source);
            if (!byQueue.TryGetValue(affinity, out var group))
            {
                byQueue[affinity] = group = (e.Source, []);
            }

            group.Events.Add(e);
        }

        var records = new List<(string, ReadOnlyMemory<byte>)>(byQueue.Count);
        foreach (var (source, list) in byQueue.Values)
        {
            // Keyed by one of its sources: they all map to the same queue.
            var buffer = new ArrayBufferWriter<byte>(list.Count * 128);
            EventSerializer.WriteNdjson(buffer, (IEnumerable<AnalyticsEvent>)list);
            records.Add((source, buffer.WrittenMemory));
        }

        try
        {
            await writer.AppendAsync(records, cancellationToken);
        }
        catch (Exception exception) when (exception is TimeoutException or Aws.Kinesis.KinesisException or IOException)
        {
            throw new EventStreamUnavailableException(exception.Message, exception);
        }
    }
}

/// <summary>The event stream did not make every record of a batch durable (Kinesis refused or timed out); the API answers 503.</summary>
public sealed class EventStreamUnavailableException(string message, Exception inner) : Exception(message, inner);
