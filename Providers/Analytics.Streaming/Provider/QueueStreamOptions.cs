using Microsoft.Extensions.Options;

namespace Analytics.Streaming;

/// <summary>How a provider's receivers read, deliver and checkpoint (named options, one set per provider).</summary>
public sealed class QueueStreamOptions
{
    /// <summary>Most records read as one page.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>How often a receiver flushes the consumers it delivered to and moves the queue's checkpoint.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a checkpoint waits, after it takes the position it covers, before it asks the
    /// consumers. Consumers that write on their own flush timer have by then usually written past
    /// that position and confirm without another write, so a consumer fed by many queues writes
    /// once a flush interval instead of once per queue checkpoint. A crash replays up to
    /// CheckpointInterval + CheckpointSettle of a queue. Zero asks at once; a checkpoint at a
    /// queue's end, at a graceful stop or before a replay never waits.
    /// </summary>
    public TimeSpan CheckpointSettle { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// How long a checkpoint waits for stream deliveries still in flight (consumers answering
    /// Pending) before it treats them as lost and replays from the last checkpoint.
    /// </summary>
    public TimeSpan PendingCheckpointTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Pause before a checkpoint asks the consumers that answered Pending again.</summary>
    public TimeSpan PendingRetryDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Attempts before the records a direct consumer keeps failing on go to the dead-letter store.</summary>
    public int MaxDeliveryAttempts { get; set; } = 5;

    /// <summary>The longest pause between two attempts of a failing direct delivery.</summary>
    public TimeSpan MaxDeliveryBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Batch containers Orleans' cache holds per queue (<c>SimpleQueueCacheOptions.CacheSize</c>).</summary>
    public int CacheSize { get; set; } = 4096;

    public string? Validate() =>
        BatchSize < 1 ? "BatchSize must be at least 1."
        : CheckpointInterval <= TimeSpan.Zero ? "CheckpointInterval must be positive."
        : CheckpointSettle < TimeSpan.Zero ? "CheckpointSettle must not be negative."
        : PendingCheckpointTimeout <= TimeSpan.Zero ? "PendingCheckpointTimeout must be positive."
        : PendingRetryDelay <= TimeSpan.Zero ? "PendingRetryDelay must be positive."
        : MaxDeliveryAttempts < 1 ? "MaxDeliveryAttempts must be at least 1."
        : MaxDeliveryBackoff <= TimeSpan.Zero ? "MaxDeliveryBackoff must be positive."
        : CacheSize < 10 ? "CacheSize must be at least 10."
        : null;
}

internal sealed class QueueStreamOptionsValidator : IValidateOptions<QueueStreamOptions>
{
    public ValidateOptionsResult Validate(string? name, QueueStreamOptions options) =>
        options.Validate() is { } error ? ValidateOptionsResult.Fail($"Stream provider '{name}': {error}") : ValidateOptionsResult.Success;
}
