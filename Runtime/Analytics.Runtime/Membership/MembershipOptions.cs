using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Membership;

/// <summary>
/// Membership and failure detection. Failures are found the way Orleans finds them: every silo
/// probes a few others directly, a silo that misses <see cref="NumMissedProbesLimit"/> probes in a
/// row gets a suspicion vote in the table, and enough fresh votes declare it dead. With the
/// defaults a killed silo is declared dead within about 4–6 s (three missed probes one second
/// apart, each waiting up to a second for its answer, plus a table write), well within 10 s. The
/// heartbeat rule (<see cref="DeathTimeout"/>) only remains as the fallback for a silo nobody
/// could probe.
/// </summary>
public sealed class MembershipOptions
{
    /// <summary>How often the table is re-read; a change reaches every silo within this period.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often a silo writes its heartbeat.</summary>
    public TimeSpan IAmAliveInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Fallback only: a silo whose heartbeat is older than this is declared dead even without
    /// votes. Probes normally declare a dead silo long before (about 4–6 s); this catches a silo
    /// that nobody probed, such as the last other silo of a cluster whose probers all died. Kept
    /// well above the probe path so a slow table never races the votes.
    /// </summary>
    public TimeSpan DeathTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Set false to leave failure detection to an external mechanism: turns off both the probes and the heartbeat rule.</summary>
    public bool DetectFailures { get; set; } = true;

    /// <summary>How often each silo probes the silos it watches.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one probe may wait for its answer before it counts as missed.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Consecutive missed probes after which the prober casts a suspicion vote.</summary>
    public int NumMissedProbesLimit { get; set; } = 3;

    /// <summary>How many other silos each silo probes; the ring spreads them so every silo has several watchers.</summary>
    public int NumProbedSilos { get; set; } = 10;

    /// <summary>
    /// Fresh votes from distinct silos that declare a silo dead; fewer suffice when fewer other
    /// active silos exist to vote, so a two-silo cluster can still declare its peer dead.
    /// </summary>
    public int NumVotesForDeathDeclaration { get; set; } = 2;

    /// <summary>Votes older than this no longer count, so old, unrelated suspicions cannot add up to a death.</summary>
    public TimeSpan DeathVoteExpiration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a Dead row stays in the table (counted from its last heartbeat, or its start if later)
    /// before the periodic cleanup deletes it. Every silo start adds a row (a new generation) and every
    /// silo re-reads the whole table each <see cref="RefreshInterval"/>, so dead rows must not pile up.
    /// Orleans keeps them 7 days; we keep 1 day because on ECS autoscaling and deployments replace tasks
    /// often, and a day is still enough to see recent deaths in /api/cluster. A silo that was away longer
    /// than this finds its row gone and stops, as if declared dead: it never comes back.
    /// </summary>
    public TimeSpan DefunctSiloExpiration { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// How often each silo deletes the defunct rows (first one period after it started). Every silo
    /// does it; the deletes are conditional, so silos cleaning up at the same time are harmless.
    /// </summary>
    public TimeSpan DefunctSiloCleanupPeriod { get; set; } = TimeSpan.FromHours(1);
}

internal sealed class MembershipOptionsValidator : IValidateOptions<MembershipOptions>
{
    public ValidateOptionsResult Validate(string? name, MembershipOptions options)
    {
        List<string> failures = [];
        if (options.RefreshInterval <= TimeSpan.Zero || options.IAmAliveInterval <= TimeSpan.Zero)
        {
            failures.Add("Membership intervals must be positive.");
        }
        else if (options.DeathTimeout <= options.IAmAliveInterval * 2)
        {
            failures.Add($"{nameof(MembershipOptions.DeathTimeout)} ({options.DeathTimeout}) must exceed two heartbeat intervals ({options.IAmAliveInterval * 2}), or live silos would be declared dead.");
        }

        if (options.ProbeInterval <= TimeSpan.Zero || options.ProbeTimeout <= TimeSpan.Zero || options.DeathVoteExpiration <= TimeSpan.Zero)
        {
            failures.Add($"{nameof(MembershipOptions.ProbeInterval)}, {nameof(MembershipOptions.ProbeTimeout)} and {nameof(MembershipOptions.DeathVoteExpiration)} must be positive.");
        }
        else if (options.ProbeTimeout > options.ProbeInterval * 5)
        {
            // Rounds do not overlap, so a much longer timeout would stretch the time to detect a death far beyond the intended few seconds.
            failures.Add($"{nameof(MembershipOptions.ProbeTimeout)} ({options.ProbeTimeout}) must not exceed five probe intervals ({options.ProbeInterval * 5}).");
        }

        if (options.NumMissedProbesLimit < 1 || options.NumProbedSilos < 1 || options.NumVotesForDeathDeclaration < 1)
        {
            failures.Add($"{nameof(MembershipOptions.NumMissedProbesLimit)}, {nameof(MembershipOptions.NumProbedSilos)} and {nameof(MembershipOptions.NumVotesForDeathDeclaration)} must be at least 1.");
        }

        if (options.DefunctSiloCleanupPeriod <= TimeSpan.Zero)
        {
            failures.Add($"{nameof(MembershipOptions.DefunctSiloCleanupPeriod)} must be positive.");
        }

        if (options.DefunctSiloExpiration <= TimeSpan.FromMinutes(1))
        {
            // Dead rows carry the votes and the death for the silos still catching up; only long-gone ones may go.
            failures.Add($"{nameof(MembershipOptions.DefunctSiloExpiration)} ({options.DefunctSiloExpiration}) must exceed one minute.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
