using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Streaming.Leases;

/// <summary>How a lease-balanced provider holds, renews and takes queue leases (defaults after the Kinesis Client Library's).</summary>
public sealed class LeaseBalancerOptions
{
    /// <summary>A lease whose counter has not moved for this long is expired, and any silo may take it (KCL: 10 s).</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often held leases are renewed and the table is read to take a fair share (KCL: a third of the duration).</summary>
    public TimeSpan RenewInterval { get; set; } = TimeSpan.FromSeconds(10) / 3;

    /// <summary>The most leases taken from other live silos in one pass (KCL: 1), so that balancing converges without churn.</summary>
    public int MaxLeasesToStealAtOneTime { get; set; } = 1;

    public string? Validate() =>
        LeaseDuration <= TimeSpan.Zero ? "LeaseDuration must be positive."
        : RenewInterval <= TimeSpan.Zero ? "RenewInterval must be positive."
        : RenewInterval * 2 > LeaseDuration ? "RenewInterval must be at most half of LeaseDuration, or a live silo's leases look expired between two renewals."
        : MaxLeasesToStealAtOneTime < 0 ? "MaxLeasesToStealAtOneTime must not be negative."
        : null;
}

internal sealed class LeaseBalancerOptionsValidator : IValidateOptions<LeaseBalancerOptions>
{
    public ValidateOptionsResult Validate(string? name, LeaseBalancerOptions options) =>
        options.Validate() is { } error ? ValidateOptionsResult.Fail($"Lease balancing of stream provider '{name}': {error}") : ValidateOptionsResult.Success;
}
