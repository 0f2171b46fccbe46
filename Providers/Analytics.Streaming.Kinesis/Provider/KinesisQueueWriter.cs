using System.Text;
using Analytics.Aws.Kinesis;
using Microsoft.Extensions.Logging;

namespace Analytics.Streaming.Kinesis;

/// <summary>
/// The ingest path of a Kinesis provider: a stream key is the partition key, a record's bytes the
/// Kinesis record's data. Kinesis routes each key to its shard, so every key is its own affinity.
/// </summary>
public sealed class KinesisQueueWriter : IQueueWriter
{
    // The first pause before re-sending throttled entries; it doubles up to the cap, with full jitter.
    private static readonly TimeSpan PutBaseDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan PutMaxDelay = TimeSpan.FromSeconds(5);

    private readonly string _streamName;
    private readonly KinesisRecordPutter _putter;

    public KinesisQueueWriter(KinesisClient client, KinesisStreamOptions options, TimeProvider time, ILogger<KinesisQueueWriter> logger)
    {
        if (options.Validate() is { } error)
        {
            throw new ArgumentException($"Kinesis writer: {error}", nameof(options));
        }

        _streamName = options.StreamName;
        _putter = new KinesisRecordPutter(
            client, options.StreamName, options.PutRetryTimeout, new KinesisRetryPolicy(int.MaxValue, PutBaseDelay, PutMaxDelay), time, logger);
    }

    /// <summary>Kinesis places records by partition key and packs nothing: each key is its own affinity.</summary>
    public string GetQueueAffinity(string streamKey) => streamKey;

    /// <summary>
    /// Writes the records in order, in PutRecords batches of at most 500 records and 5 MiB, one
    /// batch after the other so that each key's records keep their order. Returns when every record
    /// is durable; throws when a batch is still not fully written after <see cref="KinesisStreamOptions.PutRetryTimeout"/>.
    /// </summary>
    /// <remarks>
    /// PutRecords is not atomic: only the failed entries of a batch are sent again, so a re-sent
    /// entry lands after the entries of its batch that succeeded, and a whole call that failed may
    /// still have landed. Consumers dedupe by event id and do not depend on order within a batch.
    /// </remarks>
    public async Task AppendAsync(IReadOnlyList<(string StreamKey, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken)
    {
        var batch = new List<PutRecordsEntry>(Math.Min(records.Count, KinesisLimits.MaxPutRecordsCount));
        long batchBytes = 0;
        foreach (var (key, data) in records)
        {
            if (string.IsNullOrEmpty(key) || key.Length > KinesisLimits.MaxPartitionKeyLength)
            {
                throw new ArgumentException($"Stream key '{key}' cannot be a Kinesis partition key (1 to {KinesisLimits.MaxPartitionKeyLength} characters).", nameof(records));
            }

            var size = data.Length + Encoding.UTF8.GetByteCount(key);
            if (size > KinesisLimits.MaxPutRecordsBytes)
            {
                throw new ArgumentException($"A record of key '{key}' is {size} bytes; Kinesis takes at most {KinesisLimits.MaxPutRecordsBytes} per call.", nameof(records));
            }

            if (batch.Count == KinesisLimits.MaxPutRecordsCount || batchBytes + size > KinesisLimits.MaxPutRecordsBytes)
            {
                await PutBatchAsync(batch, cancellationToken).ConfigureAwait(false);
                batch.Clear();
                batchBytes = 0;
            }

            batch.Add(new PutRecordsEntry(data, key));
            batchBytes += size;
        }

        if (batch.Count > 0)
        {
            await PutBatchAsync(batch, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task PutBatchAsync(List<PutRecordsEntry> batch, CancellationToken cancellationToken)
    {
        var outcome = await _putter.PutAsync(batch, cancellationToken).ConfigureAwait(false);
        if (outcome.Refused is [var first, ..])
        {
            // A record the service refuses outright: no retry helps, and the caller must not report success.
            throw new InvalidOperationException(
                $"Kinesis stream '{_streamName}' refused a record of key '{batch[first.Index].PartitionKey}': {first.Error}");
        }
    }
}
