using System.Diagnostics;
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
public sealed class KinesisReplayRunner : IReplayRunner
{
    private readonly KinesisEventProducer _producer;
    private readonly ReplayReader _reader;
    private readonly ReplayOptions _options;
    private readonly Func<long> _nowMs;
    private readonly Stopwatch _clock = new();
    private readonly List<ReplayRejection> _rejections = [];
    private long _sent;
    private long _rejected;

    /// <param name="options">BatchSize is the lines handed to the producer at a time; MaxBatchBytes bounds their bytes.</param>
    /// <param name="nowMs">Time of receipt in epoch ms: the timestamp of events without one, and the base of the future check.</param>
    public KinesisReplayRunner(KinesisEventProducer producer, ReplayReader reader, ReplayOptions options, Func<long> nowMs)
    {
        _producer = producer ?? throw new ArgumentNullException(nameof(producer));
        _reader = reader ?? throw new ArgumentNullException(nameof(reader));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _nowMs = nowMs ?? throw new ArgumentNullException(nameof(nowMs));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxBatchBytes, 1);
    }

    /// <summary>Sent and accepted count lines in the stream; batches are PutRecords calls.</summary>
    public ReplayProgress Progress
    {
        get
        {
            KinesisProducerStats stats = _producer.Stats;
            return new ReplayProgress(
                Interlocked.Read(ref _sent),
                stats.Events,
                Interlocked.Read(ref _rejected),
                stats.Batches,
                _reader.BytesRead,
                _reader.LinesRead,
                _reader.Length,
                _clock.Elapsed);
        }
    }

    /// <summary>
    /// Replays the whole file. Cancelling stops before the next batch (the batch in flight
    /// finishes). Throws <see cref="ReplayFormatException"/> when the file's structure breaks, and
    /// <see cref="KinesisProducerException"/> when the stream cannot be written.
    /// </summary>
    public async Task<ReplaySummary> RunAsync(CancellationToken stop = default)
    {
        _clock.Start();
        try
        {
            var found = new List<ReplayRejection>();
            while (!stop.IsCancellationRequested)
            {
                List<ReplayItem> batch = await _reader.ReadBatchAsync(_options.BatchSize, _options.MaxBatchBytes, found, stop).ConfigureAwait(false);
                foreach (ReplayRejection r in found)
                {
                    Reject(r.Line, r.Error);
                }

                found.Clear();
                if (batch.Count == 0)
                {
                    break;
                }

                await PutAsync(batch).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Interrupted while reading: reported below.
        }
        finally
        {
            _clock.Stop();
        }

        lock (_rejections)
        {
            return new ReplaySummary(Progress, [.. _rejections.OrderBy(r => r.Line)], [], stop.IsCancellationRequested);
        }
    }

    private async Task PutAsync(List<ReplayItem> batch)
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

    private void Reject(long line, string error)
    {
        Interlocked.Increment(ref _rejected);
        lock (_rejections)
        {
            if (_rejections.Count < _options.MaxRejectionsKept)
            {
                _rejections.Add(new ReplayRejection(line, error));
            }
        }
    }
}
