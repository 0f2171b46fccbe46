using Analytics.Aws.Kinesis;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Aws.Kinesis;

/// <summary>Which Kinesis stream a stream provider reads and writes, and how hard it pushes.</summary>
public sealed class KinesisStreamOptions
{
    /// <summary>The Kinesis stream (required). It must exist; the adapter does not create it.</summary>
    public string StreamName { get; set; } = "";

    /// <summary>
    /// The stream namespace stamped on every record read back: Kinesis records carry only a
    /// partition key (the stream key), so the namespace is a property of the whole Kinesis stream.
    /// </summary>
    public string Namespace { get; set; } = "events";

    /// <summary>
    /// How long one PutRecords batch may keep retrying its failed entries (throttling, internal
    /// failures) before <see cref="KinesisQueueAdapter.AppendAsync"/> gives up and throws.
    /// </summary>
    public TimeSpan PutRetryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The least time between two GetRecords calls on one shard. Kinesis allows 5 a second per
    /// shard, shared by every consumer of the stream, so 200 ms is the most one reader may take.
    /// </summary>
    public TimeSpan MinPollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest a receiver waits after throttling or a server error before it reads again.</summary>
    public TimeSpan MaxReadBackoff { get; set; } = TimeSpan.FromSeconds(5);

    public string? Validate() =>
        string.IsNullOrWhiteSpace(StreamName) ? "StreamName must be set."
        : StreamName.Length > 128 || !StreamName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-') ? $"StreamName '{StreamName}' is not a Kinesis stream name (1 to 128 of a-z, A-Z, 0-9, _ . -)."
        : string.IsNullOrWhiteSpace(Namespace) ? "Namespace must be set."
        : PutRetryTimeout <= TimeSpan.Zero ? "PutRetryTimeout must be positive."
        : MinPollInterval < TimeSpan.Zero ? "MinPollInterval must not be negative."
        : MaxReadBackoff < MinPollInterval ? "MaxReadBackoff must be at least MinPollInterval."
        : null;
}

public sealed class KinesisStreamOptionsValidator : IValidateOptions<KinesisStreamOptions>
{
    public ValidateOptionsResult Validate(string? name, KinesisStreamOptions options) =>
        options.Validate() is { } error ? ValidateOptionsResult.Fail($"Kinesis stream provider '{name}': {error}") : ValidateOptionsResult.Success;
}
