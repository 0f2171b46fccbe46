using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Membership;

public sealed class MembershipOptions
{
    /// <summary>How often the table is re-read; a change reaches every silo within this period.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often a silo writes its heartbeat.</summary>
    public TimeSpan IAmAliveInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A silo whose heartbeat is older than this is declared dead (so within about 10 s by default).</summary>
    public TimeSpan DeathTimeout { get; set; } = TimeSpan.FromSeconds(8);

    /// <summary>Set false to leave failure detection to an external mechanism.</summary>
    public bool DetectFailures { get; set; } = true;
}

internal sealed class MembershipOptionsValidator : IValidateOptions<MembershipOptions>
{
    public ValidateOptionsResult Validate(string? name, MembershipOptions options) =>
        options.RefreshInterval <= TimeSpan.Zero || options.IAmAliveInterval <= TimeSpan.Zero
            ? ValidateOptionsResult.Fail("Membership intervals must be positive.")
            : options.DeathTimeout <= options.IAmAliveInterval * 2
                ? ValidateOptionsResult.Fail($"{nameof(MembershipOptions.DeathTimeout)} ({options.DeathTimeout}) must exceed two heartbeat intervals ({options.IAmAliveInterval * 2}), or live silos would be declared dead.")
                : ValidateOptionsResult.Success;
}
