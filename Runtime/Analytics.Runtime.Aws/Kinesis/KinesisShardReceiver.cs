using Analytics.Aws.Kinesis;
using Analytics.Runtime.Streaming;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Aws.Kinesis;

/// <summary>
/// Reads one Kinesis shard in order for a pulling agent, from a checkpoint token.
/// </summary>
/// <remarks>
/// <para><b>Tokens.</b> A plain Kinesis record's token is its sequence number with sub-sequence 0.
/// A KPL aggregated record holds several user records under one sequence number; user record k
/// (0-based) gets sub-sequence <c>(k + 1) * <see cref="UserRecordStride"/></c>. The decoder that
/// turns a record into items numbers its items by adding their index to the record's sub-sequence,
/// so items of every user record stay distinct and increasing as long as a user record holds fewer
/// than 65,536 items and an aggregated record fewer than <see cref="MaxUserRecords"/> user records.
/// An aggregated record with more user records than that is passed on whole, as one raw record.</para>
/// <para><b>Poison.</b> A record with the KPL magic whose checksum does not match or whose protobuf
/// cannot be read is delivered as one raw record (its bytes unchanged, sub-sequence 0): our
/// decoder then fails to read it as JSON and the agent keeps it in the dead-letter store, so
/// nothing is dropped silently.</para>
/// <para><b>Rate.</b> At most one GetRecords per <see cref="KinesisStreamOptions.MinPollInterval"/>
/// (Kinesis allows 5 a second per shard, shared by all readers). A read yields up to
/// <c>maxCount</c> Kinesis records, which may de-aggregate to more user records: the extra ones
/// are kept and handed out by the next calls without another read.</para>
/// </remarks>
public sealed partial class KinesisShardReceiver : IQueueAdapterReceiver
{
    /// <summary>The sub-sequence step between the user records of one aggregated record: room for 65,536 items each.</summary>
    public const int UserRecordStride = 65536;

    /// <summary>The most user records of one aggregated record that get their own tokens (int.MaxValue / stride - 1).</summary>
    public const int MaxUserRecords = (int.MaxValue / UserRecordStride) - 1;

    private readonly KinesisClient _client;
    private readonly KinesisStreamOptions _options;
    private readonly string _shardId;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Queue<QueueRecord> _pending = new();
    private string? _iterator;
    private StreamSequenceToken? _start;
    private string? _lastSequenceRead;
    private bool _shardEnded;
    private long _lastRead;
    private bool _hasRead;
    private int _failures;
    private long _notBefore;

    public KinesisShardReceiver(KinesisClient client, KinesisStreamOptions options, string shardId, TimeProvider timeProvider, ILogger<KinesisShardReceiver> logger)
    {
        _client = client;
        _options = options;
        _shardId = shardId;
        _time = timeProvider;
        _logger = logger;
    }

    public string ShardId => _shardId;

    /// <summary>True once the shard is closed and every record of it has been handed out.</summary>
    public bool IsAtEnd => _shardEnded && _pending.Count == 0;

    public TimeSpan? Lag { get; private set; }

    /// <summary>The shards that continue this one, as GetRecords reported at the shard's end; for the coming lease logic.</summary>
    public IReadOnlyList<ChildShard> ChildShards { get; private set; } = [];

    public async Task InitializeAsync(StreamSequenceToken? after, CancellationToken cancellationToken)
    {
        _pending.Clear();
        _shardEnded = false;
        _lastSequenceRead = null;
        ChildShards = [];
        _start = after;
        _iterator = await NewIteratorAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<QueueRecord>> GetMessagesAsync(int maxCount, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        if (_pending.Count == 0 && !_shardEnded)
        {
            await ReadAsync(maxCount, cancellationToken).ConfigureAwait(false);
        }

        if (_pending.Count == 0)
        {
            return [];
        }

        var batch = new List<QueueRecord>(Math.Min(maxCount, _pending.Count));
        while (batch.Count < maxCount && _pending.TryDequeue(out var record))
        {
            batch.Add(record);
        }

        return batch;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>One GetRecords (after waiting out the rate limit or a backoff), its records de-aggregated into the pending queue.</summary>
    private async Task ReadAsync(int maxCount, CancellationToken cancellationToken)
    {
        if (_iterator is null)
        {
            throw new InvalidOperationException($"Shard {_shardId}: InitializeAsync must be called before GetMessagesAsync.");
        }

        await WaitForTurnAsync(cancellationToken).ConfigureAwait(false);
        GetRecordsResult result;
        try
        {
            _lastRead = _time.GetTimestamp();
            _hasRead = true;
            result = await _client.GetRecordsAsync(_iterator, Math.Min(maxCount, KinesisLimits.MaxGetRecordsLimit), cancellationToken).ConfigureAwait(false);
        }
        catch (KinesisException e) when (e.IsExpiredIterator)
        {
            // Unused for 5 minutes (a long stall in delivery): carry on from what was read last.
            LogIteratorExpired(_shardId, _lastSequenceRead ?? _start?.ToString() ?? "the start");
            _iterator = await NewIteratorAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (Exception e) when (KinesisRetryPolicy.IsTransient(e) && !cancellationToken.IsCancellationRequested)
        {
            // The client has retried already; rather than hammer a throttled shard, pause this reader.
            var backoff = Backoff(++_failures);
            _notBefore = _time.GetTimestamp() + (long)(backoff.TotalSeconds * _time.TimestampFrequency);
            LogReadBackoff(_shardId, backoff.TotalMilliseconds, e.Message);
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
            LogShardEnd(_shardId, string.Join(", ", ChildShards.Select(c => c.ShardId)));
        }
    }

    private void Deaggregate(KinesisRecord record)
    {
        var stream = new StreamId(_options.Namespace, record.PartitionKey);
        var sequence = record.SequenceNumber;
        var content = KplAggregation.Deaggregate(record.Data, record.PartitionKey);
        if (content.Kind == KplRecordKind.Invalid || content.Records.Count > MaxUserRecords)
        {
            LogUnreadableAggregate(_shardId, sequence, content.Error ?? $"{content.Records.Count} user records, more than {MaxUserRecords}");
            Enqueue(new QueueRecord(stream, record.Data, new StreamSequenceToken(sequence)));
            return;
        }

        if (content.Kind == KplRecordKind.NotAggregated)
        {
            Enqueue(new QueueRecord(stream, record.Data, new StreamSequenceToken(sequence)));
            return;
        }

        for (var i = 0; i < content.Records.Count; i++)
        {
            var user = content.Records[i];
            Enqueue(new QueueRecord(new StreamId(_options.Namespace, user.PartitionKey), user.Data, new StreamSequenceToken(sequence, (i + 1) * UserRecordStride)));
        }
    }

    /// <summary>Queues a record unless the position asked for lies past it (resuming inside an aggregated record).</summary>
    private void Enqueue(QueueRecord record)
    {
        if (_start is { } start && record.Token <= start)
        {
            return;
        }

        _pending.Enqueue(record);
    }

    /// <summary>
    /// An iterator from where reading is: after the last record read, or else the initial position.
    /// A start inside an aggregated record (sub-sequence > 0) reads that record again from its
    /// sequence number; <see cref="Enqueue"/> then skips its user records up to the start.
    /// </summary>
    private Task<string> NewIteratorAsync(CancellationToken cancellationToken) =>
        _lastSequenceRead is { } last
            ? _client.GetShardIteratorAsync(_options.StreamName, _shardId, ShardIteratorType.AfterSequenceNumber, last, cancellationToken)
            : _start switch
            {
                null => _client.GetShardIteratorAsync(_options.StreamName, _shardId, ShardIteratorType.TrimHorizon, null, cancellationToken),
                { SubSequence: > 0 } start => _client.GetShardIteratorAsync(_options.StreamName, _shardId, ShardIteratorType.AtSequenceNumber, start.Sequence, cancellationToken),
                { } start => _client.GetShardIteratorAsync(_options.StreamName, _shardId, ShardIteratorType.AfterSequenceNumber, start.Sequence, cancellationToken),
            };

    private async Task WaitForTurnAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        var turn = _hasRead ? _lastRead + (long)(_options.MinPollInterval.TotalSeconds * _time.TimestampFrequency) : now;
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
