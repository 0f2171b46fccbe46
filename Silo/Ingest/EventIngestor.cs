using System.Buffers;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Runtime.Streaming;

namespace Analytics.Silo.Ingest;

/// <summary>
/// The write path shared by POST /api/events and the simulator: validate, then append the
/// accepted events to the event stream, one record per source (so a source's events stay in one
/// queue and in order), and return only once every record is durable.
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

        var bySource = new Dictionary<string, List<AnalyticsEvent>>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (!bySource.TryGetValue(e.Source, out var list))
            {
                bySource[e.Source] = list = [];
            }

            list.Add(e);
        }

        var records = new List<(StreamId, ReadOnlyMemory<byte>)>(bySource.Count);
        foreach (var (source, list) in bySource)
        {
            var buffer = new ArrayBufferWriter<byte>(list.Count * 128);
            EventSerializer.WriteNdjson(buffer, (IEnumerable<AnalyticsEvent>)list);
            records.Add((new StreamId(AnalyticsStreams.Namespace, source), buffer.WrittenMemory));
        }

        await Provider.AppendAsync(records, cancellationToken);
    }
}
