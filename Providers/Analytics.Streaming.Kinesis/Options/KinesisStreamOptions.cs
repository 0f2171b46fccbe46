using Analytics.Aws.Kinesis;
using Microsoft.Extensions.Options;

namespace Analytics.Streaming.Kinesis;

/// <summary>
/// One Kinesis stream provider: which stream it reads and writes, how hard it polls, and how its
/// silos share the shards through leases (defaults after the Kinesis Client Library's).
/// </summary>
public sealed class KinesisStreamOptions
{
    /// <summary>The Kinesis stream (required). It must exist; the provider does not create it.</summary>
    public string StreamName { get; set; } = "";

    /// <summary>
    /// How long one PutRecords batch may keep retrying its failed entries (throttling, internal
    /// failures) before <see cref="KinesisQueueWriter.AppendAsync"/> gives up and throws.
    /// </summary>
    public TimeSpan PutRetryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The least time between two GetRecords calls on one shard. Kinesis allows 5 a second per
    /// shard, shared by every consumer of the stream, so 200 ms is the most one reader may take.
    /// </summary>
    public TimeSpan MinPollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest a reader waits after throttling or a server error before it reads again.</summary>
    public TimeSpan MaxReadBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most Kinesis records one GetRecords asks for (the API allows 10,000).</summary>
    public int MaxRecordsPerRead { get; set; } = KinesisLimits.MaxGetRecordsLimit;

    /// <summary>
    /// How often the shards are listed again to find the children of a split or merge (KCL syncs
    /// every 60 s). A parent read to its end triggers a listing at once, so this bounds only how
    /// late a reshard nobody has reached yet is noticed.
    /// </summary>
    public TimeSpan ShardRefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A lease whose counter has not moved for this long is expired, and any silo may take it (KCL: 10 s).</summary>
    public TimeSpan LeaseLength { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often held leases are renewed and the lease table is read to take a fair share (KCL: a third of the length).</summary>
    public TimeSpan LeaseRenewPeriod { get; set; } = TimeSpan.FromSeconds(10) / 3;

    /// <summary>The most leases taken from other live silos in one pass (KCL: 1), so that balancing converges without churn.</summary>
    public int MaxLeasesToStealAtOneTime { get; set; } = 1;

    /// <summary>
    /// The partition of the lease table this provider's leases live in. Unset means
    /// "{ServiceId}/{provider name}": stable across deployments of one service, so checkpoints survive
    /// restarts, and apart for two services or providers that share a table.
    /// </summary>
    public string? LeaseGroup { get; set; }

    public string? Validate() =>
        string.IsNullOrWhiteSpace(StreamName) ? "StreamName must be set."
        : StreamName.Length > 128 || !StreamName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')
            ? $"StreamName '{StreamName}' is not a Kinesis stream name (1 to 128 of a-z, A-Z, 0-9, _ . -)."
        : PutRetryTimeout <= TimeSpan.Zero ? "PutRetryTimeout must be positive."
        : MinPollInterval < TimeSpan.Zero ? "MinPollInterval must not be negative."
        : MaxReadBackoff <= TimeSpan.Zero || MaxReadBackoff < MinPollInterval ? "MaxReadBackoff must be positive and at least MinPollInterval."
        : MaxRecordsPerRead is < 1 or > KinesisLimits.MaxGetRecordsLimit ? $"MaxRecordsPerRead must be 1 to {KinesisLimits.MaxGetRecordsLimit}."
        : ShardRefreshInterval <= TimeSpan.Zero ? "ShardRefreshInterval must be positive."
        : LeaseLength <= TimeSpan.Zero ? "LeaseLength must be positive."
        : LeaseRenewPeriod <= TimeSpan.Zero ? "LeaseRenewPeriod must be positive."
        // Two renewals must fit in one lease, or one slow renewal makes a live silo's leases look expired.
        : LeaseRenewPeriod * 2 > LeaseLength ? "LeaseRenewPeriod must be at most half of LeaseLength."
        : MaxLeasesToStealAtOneTime < 0 ? "MaxLeasesToStealAtOneTime must not be negative."
        : LeaseGroup is { } group && string.IsNullOrWhiteSpace(group) ? "LeaseGroup must not be blank (leave it unset for the default)."
        : null;
}

public sealed class KinesisStreamOptionsValidator : IValidateOptions<KinesisStreamOptions>
{
    public ValidateOptionsResult Validate(string? name, KinesisStreamOptions options) =>
        options.Validate() is { } error ? ValidateOptionsResult.Fail($"Kinesis stream provider '{name}': {error}") : ValidateOptionsResult.Success;
}
