using Analytics.Aws.Kinesis;

namespace Analytics.Client.Kinesis;

/// <summary>How <see cref="KinesisEventProducer"/> writes to its stream.</summary>
public sealed class KinesisProducerOptions
{
    public required string StreamName { get; init; }

    /// <summary>The region the client signs for; only named in messages here.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>Pack each partition key's records into KPL aggregated records (one Kinesis record holds many events).</summary>
    public bool Aggregate { get; init; }

    /// <summary>
    /// PutRecords calls in flight at once. Records are split into this many lanes by a hash of
    /// their partition key; each lane sends its calls one after the other, so a key's records
    /// never overtake each other.
    /// </summary>
    public int Concurrency { get; init; } = 4;

    /// <summary>Most Kinesis records per PutRecords call (the API takes 500).</summary>
    public int MaxRecordsPerCall { get; init; } = KinesisLimits.MaxPutRecordsCount;

    /// <summary>Most bytes (data and partition keys) per PutRecords call (the API takes 5 MiB).</summary>
    public int MaxBytesPerCall { get; init; } = KinesisLimits.MaxPutRecordsBytes;

    /// <summary>Largest aggregated record; Kinesis' default record limit is 1 MiB.</summary>
    public int MaxAggregatedBytes { get; init; } = KinesisLimits.MaxRecordBytes;

    /// <summary>The first pause before re-sending failed entries; it doubles up to <see cref="MaxRetryDelay"/>, with full jitter.</summary>
    public TimeSpan BaseRetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long one PutRecords call's failed entries are re-sent before the run gives up. Without
    /// a bound, a stream that stays throttled or unreachable would hang the tool.
    /// </summary>
    public TimeSpan PutRetryTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(StreamName);
        ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRecordsPerCall, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxRecordsPerCall, KinesisLimits.MaxPutRecordsCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBytesPerCall, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxBytesPerCall, KinesisLimits.MaxPutRecordsBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAggregatedBytes, 64);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(BaseRetryDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRetryDelay, BaseRetryDelay);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PutRetryTimeout, TimeSpan.Zero);
    }
}

/// <summary>A producer's counters: only what Kinesis accepted counts as sent.</summary>
/// <param name="Events">Events in records Kinesis accepted.</param>
/// <param name="Records">Kinesis records accepted (with aggregation, fewer than events).</param>
/// <param name="Batches">PutRecords calls answered, retries included.</param>
/// <param name="RetriedEntries">Entries sent again after a partial failure.</param>
/// <param name="Throttled">Entries (or whole calls) refused for throughput.</param>
/// <param name="Rejected">Events in records Kinesis refused for good (too large, for instance).</param>
public readonly record struct KinesisProducerStats(long Events, long Records, long Batches, long RetriedEntries, long Throttled, long Rejected);

/// <summary>One record to put: its partition key, its data, how many events it holds, and the caller's tag for it.</summary>
public readonly record struct ProducerRecord(string PartitionKey, ReadOnlyMemory<byte> Data, int Events, int Tag);

/// <summary>A record Kinesis refused for good, by the caller's tag.</summary>
public readonly record struct ProducerRejection(int Tag, string Error);

/// <summary>What one <see cref="KinesisEventProducer.PutAsync"/> achieved.</summary>
public sealed record ProducerResult(long AcceptedEvents, long RejectedEvents, IReadOnlyList<ProducerRejection> Rejections);

/// <summary>Writing to Kinesis failed as a whole; the message says why and what to do, for the command line.</summary>
public sealed class KinesisProducerException(string message, Exception? inner = null) : Exception(message, inner);
