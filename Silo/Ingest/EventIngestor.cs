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

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    private static ArrayBufferWriter<byte> Scratch => t_scratch ??= new ArrayBufferWriter<byte>(256 * 1024);

    public EventParseResult Parse(ReadOnlySpan<byte> body, bool ndjson) => EventParser.ParseBody(body, ndjson, NowMs, validation);

    public async Task AppendAsync(IReadOnlyList<AnalyticsEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        // Two passes, so each queue's events go into an array of exactly their number: a batch of
        // 1,000 events would otherwise regrow a list per queue (issue 14's allocation profile).
        var queueOf = new int[events.Count];
        var queues = new Dictionary<string, int>(StringComparer.Ordinal);
        var firstSource = new List<string>();
        var counts = new List<int>();
        for (var i = 0; i < events.Count; i++)
        {
            var affinity = writer.GetQueueAffinity(events[i].Source);
            if (!queues.TryGetValue(affinity, out var queue))
            {
                queues[affinity] = queue = counts.Count;
                firstSource.Add(events[i].Source);
                counts.Add(0);
            }

            queueOf[i] = queue;
            counts[queue]++;
        }

        var byQueue = new AnalyticsEvent[counts.Count][];
        for (var q = 0; q < byQueue.Length; q++)
        {
            byQueue[q] = new AnalyticsEvent[counts[q]];
            counts[q] = 0;
        }

        for (var i = 0; i < events.Count; i++)
        {
            byQueue[queueOf[i]][counts[queueOf[i]]++] = events[i];
        }

        var records = new List<(string, ReadOnlyMemory<byte>)>(byQueue.Length);
        var buffer = Scratch;
        for (var q = 0; q < byQueue.Length; q++)
        {
            // Keyed by one of its sources: they all map to the same queue. Serialised into a reused
            // buffer and copied once into an array of the record's exact size, which the log keeps.
            buffer.ResetWrittenCount();
            EventSerializer.WriteNdjson(buffer, new ReadOnlySpan<AnalyticsEvent>(byQueue[q]));
            records.Add((firstSource[q], buffer.WrittenSpan.ToArray()));
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
