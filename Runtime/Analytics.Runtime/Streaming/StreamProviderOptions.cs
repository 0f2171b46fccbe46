using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Streaming;

/// <summary>How a provider's pulling agents read and checkpoint.</summary>
public sealed class StreamPullingOptions
{
    /// <summary>Most records read per poll.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>Pause between polls when a queue is empty (Orleans: 100 ms; Kinesis allows 5 reads a second per shard).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How often the agent flushes the grains it delivered to and moves the checkpoint.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the queue list is re-read (Kinesis resharding) and ownership rebalanced.</summary>
    public TimeSpan QueueRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Attempts before a batch that a grain keeps failing on goes to the dead-letter store.</summary>
    public int MaxDeliveryAttempts { get; set; } = 5;

    /// <summary>How long delivery of a stream's items waits for its grain before the agent retries.</summary>
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public string? Validate() =>
        BatchSize < 1 ? "BatchSize must be at least 1."
        : PollInterval <= TimeSpan.Zero ? "PollInterval must be positive."
        : CheckpointInterval <= TimeSpan.Zero ? "CheckpointInterval must be positive."
        : QueueRefreshInterval <= TimeSpan.Zero ? "QueueRefreshInterval must be positive."
        : MaxDeliveryAttempts < 1 ? "MaxDeliveryAttempts must be at least 1."
        : null;
}

internal sealed class StreamPullingOptionsValidator : IValidateOptions<StreamPullingOptions>
{
    public ValidateOptionsResult Validate(string? name, StreamPullingOptions options) =>
        options.Validate() is { } error ? ValidateOptionsResult.Fail($"Stream provider '{name}': {error}") : ValidateOptionsResult.Success;
}
