using Analytics.Aws.Kinesis;
using System.Text;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.Leases;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Runtime.Aws.Kinesis;

/// <summary>
/// A stream provider's queues on one Kinesis stream: each shard is a queue, a stream key is the
/// partition key, and a record's bytes are the Kinesis record's data. Records read back are
/// de-aggregated when the producer used the KPL format (see <see cref="KinesisShardReceiver"/>).
/// </summary>
/// <remarks>
/// Shards are queues with lineage: a split's children and a merge's child name their parents, and
/// the lease balancer reads a child only after its parents ended, so each key's records stay in
/// order across a reshard.
/// </remarks>
public sealed class KinesisQueueAdapter : IQueueAdapter
{
    // The first pause before re-sending throttled entries; it doubles up to the cap, with full jitter.
    private static readonly TimeSpan PutBaseDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan PutMaxDelay = TimeSpan.FromSeconds(5);

    private readonly KinesisClient _client;
    private readonly KinesisStreamOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly KinesisRecordPutter _putter;

    public KinesisQueueAdapter(string name, KinesisClient client, KinesisStreamOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (options.Validate() is { } error)
        {
            throw new ArgumentException($"Kinesis stream provider '{name}': {error}", nameof(options));
        }

        Name = name;
        _client = client;
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _putter = new KinesisRecordPutter(
            client, options.StreamName, options.PutRetryTimeout, new KinesisRetryPolicy(int.MaxValue, PutBaseDelay, PutMaxDelay), _time, _loggerFactory.CreateLogger<KinesisQueueAdapter>());
    }

    public string Name { get; }

    public string StreamName => _options.StreamName;

    /// <summary>Every shard within retention, open and closed: a closed shard's agent reads it to its end, then stops.</summary>
    public async Task<IReadOnlyList<QueueId>> GetQueuesAsync(CancellationToken cancellationToken) =>
        (await GetQueueLineageAsync(cancellationToken).ConfigureAwait(false)).Select(q => q.Queue).ToList();

    public async Task<IReadOnlyList<QueueInfo>> GetQueueLineageAsync(CancellationToken cancellationToken)
    {
        var shards = await _client.ListAllShardsAsync(_options.StreamName, cancellationToken: cancellationToken).ConfigureAwait(false);
        return shards.Select(s => new QueueInfo(new QueueId(Name, s.ShardId), s.Parents.ToList())).ToList();
    }

    public IQueueAdapterReceiver CreateReceiver(QueueId queue) =>
        new KinesisShardReceiver(_client, _options, queue.Name, _time, _loggerFactory.CreateLogger<KinesisShardReceiver>());

    /// <summary>
    /// Writes the records in order, in PutRecords batches of at most 500 records and 5 MiB, one
    /// batch after the other so that each key's records keep their order. Returns when every record
    /// is durable; throws when a batch is still not fully written after <see cref="KinesisStreamOptions.PutRetryTimeout"/>.
    /// </summary>
    /// <remarks>
    /// PutRecords is not atomic: only the failed entries of a batch are sent again. A re-sent entry
    /// lands after the entries of its batch that succeeded, so a key with several records in one
    /// batch may see them reordered. Consumers tolerate that: our grains dedupe events by id and do
    /// not depend on arrival order within a key. A whole call that failed may still have landed,
    /// so a retry can also duplicate records; the same dedupe covers that.
    /// </remarks>
    public async Task AppendAsync(IReadOnlyList<(StreamId Stream, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken)
    {
        var batch = new List<PutRecordsEntry>(Math.Min(records.Count, KinesisLimits.MaxPutRecordsCount));
        long batchBytes = 0;
        foreach (var (stream, data) in records)
        {
            var key = stream.Key;
            if (string.IsNullOrEmpty(key) || key.Length > KinesisLimits.MaxPartitionKeyLength)
            {
                throw new ArgumentException($"Stream key '{key}' cannot be a Kinesis partition key (1 to {KinesisLimits.MaxPartitionKeyLength} characters).", nameof(records));
            }

            var size = data.Length + Encoding.UTF8.GetByteCount(key);
            if (size > KinesisLimits.MaxPutRecordsBytes)
            {
                throw new ArgumentException($"A record of stream {stream} is {size} bytes; Kinesis takes at most {KinesisLimits.MaxPutRecordsBytes} per call.", nameof(records));
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
            // A record the service refuses outright: no retry helps, and the caller must not answer 202.
            throw new InvalidOperationException(
                $"Kinesis stream '{_options.StreamName}' refused a record of key '{batch[first.Index].PartitionKey}': {first.Error}");
        }
    }
}
