using Analytics.Aws.Kinesis;
using Microsoft.Extensions.Logging;

namespace Analytics.Streaming.Kinesis;

/// <summary>Reads one Kinesis shard in order from a checkpoint: the Kinesis half of a receiver.</summary>
/// <remarks>
/// <para><b>Positions.</b> A plain record's position is its sequence number with sub-sequence 0.
/// A KPL aggregated record holds several user records under one sequence number; user record k
/// (0-based) gets sub-sequence <c>(k + 1) * <see cref="UserRecordStride"/></c>, so that a decoder
/// that numbers a record's items by adding their index to its sub-sequence keeps every item's
/// position distinct and increasing, as long as a user record holds fewer than 65,536 items. An
/// aggregate of more than <see cref="MaxUserRecords"/> user records is passed on whole.</para>
/// <para><b>Poison.</b> A record with the KPL magic whose checksum or protobuf is bad is passed on
/// whole (its bytes unchanged, sub-sequence 0): the decoder then fails on it and the receiver
/// keeps it in the dead-letter store, so nothing is dropped silently.</para>
/// <para><b>Rate.</b> At most one GetRecords per <see cref="KinesisStreamOptions.MinPollInterval"/>;
/// throttling and server errors pause this shard's reads with a growing backoff instead of
/// failing the receiver. One GetRecords may de-aggregate to more records than asked for: the extra
/// ones are handed out by the next reads without another call.</para>
/// </remarks>
public sealed partial class KinesisShardReader : IQueueReader
{
    /// <summary>The sub-sequence step between the user records of one aggregated record: room for 65,536 items each.</summary>
    public const int UserRecordStride = 65536;

    /// <summary>The most user records of one aggregated record that get their own positions.</summary>
    public const int MaxUserRecords = (int.MaxValue / UserRecordStride) - 1;

    private readonly KinesisClient _client;
    private readonly KinesisStreamOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Queue<QueueRecord> _pending = new();
    private string? _iterator;
    private QueuePosition? _start;
    private string? _lastSequenceRead;
    private bool _shardEnded;
    private long? _lastRead;
    private long _notBefore;
    private int _failures;

    public KinesisShardReader(KinesisClient client, KinesisStreamOptions options, string shardId, TimeProvider time, ILogger<KinesisShardReader> logger)
    {
        ArgumentException.ThrowIfNullOrEmpty(shardId);
        _client = client;
        _options = options;
        ShardId = shardId;
        _time = time;
        _logger = logger;
    }

    public string ShardId { get; }

    /// <summary>True once the shard is closed and every record of it has been handed out.</summary>
    public bool IsAtEnd => _shardEnded && _pending.Count == 0;

    public TimeSpan? Lag { get; private set; }

    /// <summary>The shards that continue this one, as GetRecords reported at the shard's end.</summary>
    public IReadOnlyList<ChildShard> ChildShards { get; private set; } = [];

    public async Task InitializeAsync(QueuePosition? after, CancellationToken cancellationToken)
    {
        _pending.Clear();
        _shardEnded = false;
        _lastSequenceRead = null;
        ChildShards = [];
        _start = after;
        _iterator = await NewIteratorAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<QueueRecord>> ReadAsync(int maxCount, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        if (_pending.Count == 0 && !_shardEnded)
        {
            await ReadPageAsync(maxCount, cancellationToken).ConfigureAwait(false);
        }

        var batch = new List<QueueRecord>(Math.Min(maxCount, _pending.Count));
        while (batch.Count < maxCount && _pending.TryDequeue(out var record))
        {
            batch.Add(record);
        }

        return batch;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>One GetRecords (after the rate limit or a backoff), its records de-aggregated into the pending queue.</summary>
    private async Task ReadPageAsync(int maxCount, CancellationToken cancellationToken)
    {
        if (_iterator is null)
        {
            throw new InvalidOperationException($"Shard {ShardId}: InitializeAsync must be called before ReadAsync.");
        }

        await WaitForTurnAsync(cancellationToken).ConfigureAwait(false);
        GetRecordsResult result;
        try
        {
            _lastRead = _time.GetTimestamp();
            result = await _client.GetRecordsAsync(_iterator, Math.Min(maxCount, _options.MaxRecordsPerRead), cancellationToken).ConfigureAwait(false);
        }
        catch (KinesisException e) when (e.IsExpiredIterator)
        {
            // Unused for 5 minutes (a long stall in delivery): carry on from what was read last.
            LogIteratorExpired(ShardId, _lastSequenceRead ?? _start?.ToString() ?? "the start");
            _iterator = await NewIteratorAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (Exception e) when (KinesisRetryPolicy.IsTransient(e) && !cancellationToken.IsCancellationRequested)
        {
            // The client has retried already; rather than hammer a throttled shard, pause this reader.
            var backoff = Backoff(++_failures);
            _notBefore = _time.GetTimestamp() + (long)(backoff.TotalSeconds * _time.TimestampFrequency);
            LogReadBackoff(ShardId, backoff.TotalMilliseconds, e.Message);
            return;
        }

        _failures = 0;
        Lag = result.MillisBehindLatest is { } behind ? TimeSpan.FromMilliseconds(behind) : null;
        foreach (var record in result.Records)
        {
            Deaggregate(record);
            _lastSequenceRead = record.SequenceNumber;
        }

        _iterator = result.NextShardIterator;
        if (result.IsShardEnd)
        {
            _shardEnded = true;
            ChildShards = result.ChildShards ?? [];
            LogShardEnd(ShardId, string.Join(", ", ChildShards.Select(c => c.ShardId)));
        }
    }

    private void Deaggregate(KinesisRecord record)
    {
        var sequence = record.SequenceNumber;
        var content = KplAggregation.Deaggregate(record.Data, record.PartitionKey);
        if (content.Kind == KplRecordKind.Invalid || content.Records.Count > MaxUserRecords)
        {
            LogUnreadableAggregate(ShardId, sequence, content.Error ?? $"{content.Records.Count} user records, more than {MaxUserRecords}");
            Enqueue(new QueueRecord(record.PartitionKey, record.Data, new QueuePosition(sequence)));
            return;
        }

        if (content.Kind == KplRecordKind.NotAggregated)
        {
            Enqueue(new QueueRecord(record.PartitionKey, record.Data, new QueuePosition(sequence)));
            return;
        }

        for (var i = 0; i < content.Records.Count; i++)
        {
            var user = content.Records[i];
            Enqueue(new QueueRecord(user.PartitionKey, user.Data, new QueuePosition(sequence, (i + 1) * UserRecordStride)));
        }
    }

    /// <summary>Queues a record unless the start position lies past it (resuming inside an aggregated record).</summary>
    private void Enqueue(QueueRecord record)
    {
        if (_start is { } start && record.Position <= start)
        {
            return;
        }

        _pending.Enqueue(record);
    }

    /// <summary>
    /// An iterator from where reading is: after the last record read, or else the start. A start
    /// inside an aggregated record (sub-sequence > 0) reads that record again (AT_SEQUENCE_NUMBER);
    /// <see cref="Enqueue"/> then skips its user records up to the start.
    /// </summary>
    private Task<string> NewIteratorAsync(CancellationToken cancellationToken) =>
        _lastSequenceRead is { } last
            ? _client.GetShardIteratorAsync(_options.StreamName, ShardId, ShardIteratorType.AfterSequenceNumber, last, cancellationToken)
            : _start switch
            {
                null => _client.GetShardIteratorAsync(_options.StreamName, ShardId, ShardIteratorType.TrimHorizon, null, cancellationToken),
                { SubSequence: > 0 } start => _client.GetShardIteratorAsync(_options.StreamName, ShardId, ShardIteratorType.AtSequenceNumber, start.Sequence, cancellationToken),
                { } start => _client.GetShardIteratorAsync(_options.StreamName, ShardId, ShardIteratorType.AfterSequenceNumber, start.Sequence, cancellationToken),
            };

    private async Task WaitForTurnAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        var turn = _lastRead is { } last ? last + (long)(_options.MinPollInterval.TotalSeconds * _time.TimestampFrequency) : now;
        var wait = Math.Max(turn, _notBefore) - now;
        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds((double)wait / _time.TimestampFrequency), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private TimeSpan Backoff(int failures)
    {
        var baseDelay = Math.Max(_options.MinPollInterval.TotalMilliseconds, 100);
        return TimeSpan.FromMilliseconds(Math.Min(_options.MaxReadBackoff.TotalMilliseconds, baseDelay * Math.Pow(2, Math.Min(failures, 16))));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Shard {Shard}: the iterator expired; reading again after {Position}")]
    private partial void LogIteratorExpired(string shard, string position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: GetRecords failed; pausing {DelayMs:0} ms: {Reason}")]
    private partial void LogReadBackoff(string shard, double delayMs, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shard {Shard} is closed and read to its end; it continues in [{Children}]")]
    private partial void LogShardEnd(string shard, string children);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shard {Shard}: record {Sequence} is passed on whole, not de-aggregated: {Reason}")]
    private partial void LogUnreadableAggregate(string shard, string sequence, string reason);
}
