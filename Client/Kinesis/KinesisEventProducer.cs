using System.Buffers;
using System.Net.Sockets;
using System.Text;
using Amazon.Runtime;
using Analytics.Client.Sending;
using Analytics.Events;
using Analytics.Aws.Kinesis;

namespace Analytics.Client.Kinesis;

/// <summary>
/// Puts events straight into a Kinesis stream, as the service's own ingest does: PutRecords calls
/// of at most 500 records and 5 MiB, partition key = the event's source, and only the failed
/// entries of a partial failure sent again (with backoff). An event counts as sent once Kinesis
/// accepted its record.
/// </summary>
/// <remarks>
/// <para>Order per source: the records of one call are split into lanes by a hash of the
/// partition key, each lane sends its PutRecords calls one after the other, and a call's failed
/// entries are re-sent before the lane's next call. So a key's records never overtake those of an
/// earlier call. Within one call, Kinesis keeps the order of a key's records, but a re-sent entry
/// lands after the entries of its call that did succeed; with aggregation (one record per key per
/// call, usually) that cannot happen.</para>
/// <para>With <see cref="KinesisProducerOptions.Aggregate"/>, each key's records are packed into
/// KPL aggregated records of at most 1 MiB. Only records of the same key share an aggregated
/// record, because Kinesis routes by the outer partition key: the consumer then sees each source
/// on its own shard, in order.</para>
/// </remarks>
public sealed class KinesisEventProducer : IEventSink
{
    // A user record inside an aggregate costs its data plus, at most: the record's field tag and
    // length (1 + 5), the key index (2), and the data's tag and length (1 + 5).
    private const int AggregatedRecordOverhead = 14;

    // Magic (4), MD5 (16), and a partition key table entry's tag and length (1 + 2), with slack.
    private const int AggregateFixedOverhead = 32;

    private readonly KinesisClient _client;
    private readonly bool _ownsClient;
    private readonly KinesisProducerOptions _options;
    private readonly KinesisRecordPutter _putter;
    private long _events;
    private long _records;
    private long _batches;
    private long _retried;
    private long _throttled;
    private long _rejected;

    public KinesisEventProducer(KinesisClient client, KinesisProducerOptions options, bool ownsClient = false)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _options.Validate();
        _ownsClient = ownsClient;
        _putter = new KinesisRecordPutter(
            client, options.StreamName, options.PutRetryTimeout, new KinesisRetryPolicy(int.MaxValue, options.BaseRetryDelay, options.MaxRetryDelay));
    }

    public string Description => $"Kinesis stream {_options.StreamName} at {_client.Endpoint.ToString().TrimEnd('/')}";

    public KinesisProducerOptions Options => _options;

    /// <summary>The counters now; safe to read while puts go on.</summary>
    public KinesisProducerStats Stats => new(
        Interlocked.Read(ref _events),
        Interlocked.Read(ref _records),
        Interlocked.Read(ref _batches),
        Interlocked.Read(ref _retried),
        Interlocked.Read(ref _throttled),
        Interlocked.Read(ref _rejected));

    /// <summary>
    /// Checks, before anything is sent, that the endpoint answers and the stream exists, so that a
    /// typo costs one clear message rather than a run of failed batches.
    /// </summary>
    public async Task CheckStreamAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            StreamDescriptionSummary summary = await _client.DescribeStreamSummaryAsync(_options.StreamName, cancellationToken).ConfigureAwait(false);
            if (summary.StreamStatus is "CREATING" or "DELETING")
            {
                throw new KinesisProducerException($"error: Kinesis stream '{_options.StreamName}' is {summary.StreamStatus}; wait until it is ACTIVE.");
            }
        }
        catch (Exception ex) when (Describe(ex) is { } message)
        {
            throw new KinesisProducerException(message, ex);
        }
    }

    /// <summary>Sends simulated events, one event per record; <c>send --kinesis</c>.</summary>
    public async Task<IngestResult> SendAsync(IReadOnlyList<AnalyticsEvent> batch, CancellationToken cancellationToken)
    {
        var records = new ProducerRecord[batch.Count];
        for (int i = 0; i < batch.Count; i++)
        {
            records[i] = new ProducerRecord(batch[i].Source, Serialize([batch[i]]), 1, i);
        }

        ProducerResult result = await PutAsync(records, cancellationToken).ConfigureAwait(false);
        return new IngestResult(
            (int)result.AcceptedEvents,
            (int)result.RejectedEvents,
            [.. result.Rejections.Select(r => new IngestError(r.Tag, r.Error))]);
    }

    /// <summary>
    /// Puts the records: returns once each was accepted or refused for good. Throws
    /// <see cref="KinesisProducerException"/> when the stream cannot be written at all (missing,
    /// unreachable, no access) or stays throttled past <see cref="KinesisProducerOptions.PutRetryTimeout"/>.
    /// </summary>
    public async Task<ProducerResult> PutAsync(IReadOnlyList<ProducerRecord> records, CancellationToken cancellationToken = default)
    {
        var lanes = new List<ProducerRecord>?[_options.Concurrency];
        foreach (ProducerRecord record in records)
        {
            int lane = (int)(StableHash(record.PartitionKey) % (uint)lanes.Length);
            (lanes[lane] ??= []).Add(record);
        }

        var outcome = new LaneOutcome();
        try
        {
            await Task.WhenAll(lanes.Where(l => l is not null).Select(l => PutLaneAsync(l!, outcome, cancellationToken))).ConfigureAwait(false);
        }
        catch (Exception ex) when (Describe(ex) is { } message)
        {
            throw new KinesisProducerException(message, ex);
        }

        lock (outcome)
        {
            return new ProducerResult(outcome.Accepted, outcome.Rejected, [.. outcome.Rejections.OrderBy(r => r.Tag)]);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>One event as a single JSON object, several as NDJSON: both are Kinesis record forms of the contract.</summary>
    public static ReadOnlyMemory<byte> Serialize(ReadOnlySpan<AnalyticsEvent> events)
    {
        var buffer = new ArrayBufferWriter<byte>(160 * events.Length);
        if (events.Length == 1)
        {
            EventSerializer.Write(buffer, events[0]);
        }
        else
        {
            EventSerializer.WriteNdjson(buffer, events);
        }

        return buffer.WrittenMemory;
    }

    /// <summary>The same lane for the same key in every call, so a key's calls are always sequential.</summary>
    internal static uint StableHash(string key)
    {
        uint hash = 2166136261; // FNV-1a: string.GetHashCode would do too, but this is stable across runs for tests
        foreach (char c in key)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash;
    }

    private async Task PutLaneAsync(List<ProducerRecord> lane, LaneOutcome outcome, CancellationToken cancellationToken)
    {
        List<Outgoing> outgoing = _options.Aggregate ? AggregateByKey(lane) : [.. lane.Select(r => new Outgoing(new PutRecordsEntry(r.Data, r.PartitionKey), [r]))];
        var call = new List<Outgoing>(Math.Min(outgoing.Count, _options.MaxRecordsPerCall));
        long callBytes = 0;
        foreach (Outgoing o in outgoing)
        {
            long size = o.Entry.Data.Length + Encoding.UTF8.GetByteCount(o.Entry.PartitionKey);
            if (size > _options.MaxBytesPerCall)
            {
                // No call can carry it; Kinesis would refuse the call, not just the entry.
                outcome.Reject(o, $"the record is {size} bytes; one PutRecords call takes at most {_options.MaxBytesPerCall}");
                Interlocked.Add(ref _rejected, o.Events);
                continue;
            }

            if (call.Count == _options.MaxRecordsPerCall || callBytes + size > _options.MaxBytesPerCall)
            {
                await PutCallAsync(call, outcome, cancellationToken).ConfigureAwait(false);
                call = [];
                callBytes = 0;
            }

            call.Add(o);
            callBytes += size;
        }

        if (call.Count > 0)
        {
            await PutCallAsync(call, outcome, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Each key's records, in order, packed into aggregated records of at most <see cref="KinesisProducerOptions.MaxAggregatedBytes"/>.</summary>
    private List<Outgoing> AggregateByKey(List<ProducerRecord> lane)
    {
        var result = new List<Outgoing>();
        foreach (IGrouping<string, ProducerRecord> key in lane.GroupBy(r => r.PartitionKey, StringComparer.Ordinal))
        {
            int limit = _options.MaxAggregatedBytes - AggregateFixedOverhead - Encoding.UTF8.GetByteCount(key.Key);
            var pack = new List<ProducerRecord>();
            long packBytes = 0;
            foreach (ProducerRecord record in key)
            {
                long size = record.Data.Length + AggregatedRecordOverhead;
                if (pack.Count > 0 && packBytes + size > limit)
                {
                    result.Add(Pack(key.Key, pack));
                    pack = [];
                    packBytes = 0;
                }

                pack.Add(record);
                packBytes += size;
            }

            result.Add(Pack(key.Key, pack));
        }

        return result;
    }

    private static Outgoing Pack(string key, List<ProducerRecord> pack) =>
        new(new PutRecordsEntry(KplAggregation.Aggregate([.. pack.Select(r => new KplRecord(r.PartitionKey, r.Data))]), key), pack);

    /// <summary>One PutRecords call, then its failed entries again (only those) until each is accepted or refused for good.</summary>
    private async Task PutCallAsync(List<Outgoing> call, LaneOutcome outcome, CancellationToken cancellationToken)
    {
        KinesisPutOutcome put;
        try
        {
            put = await _putter.PutAsync([.. call.Select(o => o.Entry)], cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex) when (ex is not KinesisAttemptTimeoutException)
        {
            throw new KinesisProducerException($"error: {ex.Message}", ex);
        }

        Interlocked.Add(ref _batches, put.Calls);
        Interlocked.Add(ref _retried, put.RetriedEntries);
        Interlocked.Add(ref _throttled, put.ThrottledResponses);
        var refused = put.Refused.ToDictionary(r => r.Index, r => r.Error);
        for (int i = 0; i < call.Count; i++)
        {
            if (refused.TryGetValue(i, out string? error))
            {
                outcome.Reject(call[i], $"Kinesis refused the record: {error}");
                Interlocked.Add(ref _rejected, call[i].Events);
            }
            else
            {
                outcome.Accept(call[i]);
                Interlocked.Add(ref _events, call[i].Events);
                Interlocked.Increment(ref _records);
            }
        }
    }

    /// <summary>A message a person can act on for a failure of the whole stream, or null to let it through.</summary>
    private string? Describe(Exception ex)
    {
        string where = $"Kinesis at {_client.Endpoint.ToString().TrimEnd('/')} (region {_options.Region})";
        return ex switch
        {
            KinesisProducerException => null,
            KinesisException { IsResourceNotFound: true } =>
                $"error: Kinesis stream '{_options.StreamName}' does not exist at {where}. Create it, or name another with --kinesis.",
            KinesisException k => $"error: {where} refused the request: {k.ErrorCode}: {k.ErrorMessage}",
            HttpRequestException or SocketException or IOException =>
                $"error: cannot reach {where}: {ex.Message.TrimEnd('.')}. Check --kinesis-endpoint (or $KINESIS_ENDPOINT) and --region.",
            KinesisAttemptTimeoutException => $"error: {where} did not answer: {ex.Message}",
            // The SDK's own message lists every provider it tried, over several lines.
            AmazonClientException =>
                $"error: no AWS credentials for {where}: none in the environment, a profile or instance metadata. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile.",
            _ => null,
        };
    }

    /// <summary>A Kinesis record on its way, and the caller's records it carries.</summary>
    private sealed record Outgoing(PutRecordsEntry Entry, IReadOnlyList<ProducerRecord> Records)
    {
        public int Events => Records.Sum(r => r.Events);
    }

    /// <summary>What the lanes of one <see cref="PutAsync"/> achieved, gathered under a lock.</summary>
    private sealed class LaneOutcome
    {
        public long Accepted;
        public long Rejected;
        public readonly List<ProducerRejection> Rejections = [];

        public void Accept(Outgoing o)
        {
            lock (this)
            {
                Accepted += o.Events;
            }
        }

        public void Reject(Outgoing o, string error)
        {
            lock (this)
            {
                Rejected += o.Events;
                Rejections.AddRange(o.Records.Select(r => new ProducerRejection(r.Tag, error)));
            }
        }
    }
}
