using Analytics.Client.Replay;
using Analytics.Events;

namespace Analytics.Client.Kinesis;

/// <summary>
/// <c>replay --kinesis</c>: puts the events of a <see cref="ReplayReader"/> into a Kinesis stream.
/// </summary>
/// <remarks>
/// Kinesis takes any bytes, so each line is validated here with the service's own parser, the
/// one <c>POST /api/events</c> runs: a bad line is reported by its line number, as the HTTP replay
/// reports the server's rejections, and never reaches the stream (where it would only end up in
/// the dead-letter store). A good line is written as the parsed event(s), re-serialised: an event
/// without a timestamp gets the time it was read, as the HTTP path stamps the time of receipt,
/// rather than whenever a consumer happens to read it.
/// </remarks>
public sealed class KinesisReplayRunner : ReplayRunnerBase
{
    private readonly KinesisEventProducer _producer;
    private readonly Func<long> _nowMs;
    private long _sent;

    /// <param name="options">BatchSize is the lines handed to the producer at a time; MaxBatchBytes bounds their bytes.</param>
    /// <param name="nowMs">Time of receipt in epoch ms: the timestamp of events without one, and the base of the future check.</param>
    public KinesisReplayRunner(KinesisEventProducer producer, ReplayReader reader, ReplayOptions options, Func<long> nowMs)
        : base(reader, options)
    {
        _producer = producer ?? throw new ArgumentNullException(nameof(producer));
        _nowMs = nowMs ?? throw new ArgumentNullException(nameof(nowMs));
    }

    /// <summary>Sent and accepted count lines in the stream; batches are PutRecords calls.</summary>
    public override ReplayProgress Progress
    {
        get
        {
            KinesisProducerStats stats = _producer.Stats;
            return new ReplayProgress(
                Interlocked.Read(ref _sent),
                stats.Events,
                Rejected,
                stats.Batches,
                Reader.BytesRead,
                Reader.LinesRead,
                Reader.Length,
                Clock.Elapsed);
        }
    }

    protected override async Task SendAsync(List<ReplayItem> batch)
    {
        long now = _nowMs();
        var records = new List<ProducerRecord>(batch.Count);
        for (int i = 0; i < batch.Count; i++)
        {
            // One line is an NDJSON body of one element: exactly what the server checks it as.
            EventParseResult parsed = EventParser.ParseBody(batch[i].Json.Span, ndjson: true, now);
            if (parsed.IsFatal || parsed.Rejected > 0 || parsed.Accepted.Count == 0)
            {
                Interlocked.Increment(ref _sent);
                Reject(batch[i].Line, parsed.FatalError ?? (parsed.Errors.Count > 0 ? parsed.Errors[0].Error : "not an event"));
                continue;
            }

            // A `values` event expands to several readings, all of the same source: one record, as NDJSON.
            AnalyticsEvent[] events = [.. parsed.Accepted];
            records.Add(new ProducerRecord(events[0].Source, KinesisEventProducer.Serialize(events), Events: 1, Tag: i));
        }

        if (records.Count == 0)
        {
            return;
        }

        // Not cancelled by an interrupt: a batch once started is let finish, so the counts are true.
        ProducerResult result = await _producer.PutAsync(records, CancellationToken.None).ConfigureAwait(false);
        Interlocked.Add(ref _sent, records.Count);
        foreach (ProducerRejection rejection in result.Rejections)
        {
            Reject(batch[rejection.Tag].Line, rejection.Error);
        }
    }
}
