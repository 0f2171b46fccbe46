using System.Buffers;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Runtime.Streaming;

namespace Analytics.Silo.Ingest;

/// <summary>
/// The write path shared by POST /api/events and the simulator: validate, then append the
/// accepted events to the event stream and return only once every record is durable. Events are
/// packed into one record per queue (all the sources that share a local-log partition), so a
/// batch costs a few rows rather than one per source; each source's events still stay in one
/// queue and in order. With Kinesis, where every partition key is its own affinity, this
/// degenerates to one record per source.
/// </summary>
public sealed class EventIngestor(IServiceProvider services, TimeProvider timeProvider, EventValidationOptions validation)
{
    private IStreamProvider? _provider;

    private IStreamProvider Provider => _provider ??= services.GetStreamProvider(AnalyticsStreams.Provider);

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
            var affinity = Provider.GetQueueAffinity(new StreamId(AnalyticsStreams.Namespace, e.Source));
            if (!byQueue.TryGetValue(affinity, out var group))
            {
                byQueue[affinity] = group = (e.Source, []);
            }

            group.Events.Add(e);
        }

        var records = new List<(StreamId, ReadOnlyMemory<byte>)>(byQueue.Count);
        foreach (var (source, list) in byQueue.Values)
        {
            // Keyed by one of its sources: they all map to the same queue.
            var buffer = new ArrayBufferWriter<byte>(list.Count * 128);
            EventSerializer.WriteNdjson(buffer, (IEnumerable<AnalyticsEvent>)list);
            records.Add((new StreamId(AnalyticsStreams.Namespace, source), buffer.WrittenMemory));
        }

        await Provider.AppendAsync(records, cancellationToken);
    }
}
