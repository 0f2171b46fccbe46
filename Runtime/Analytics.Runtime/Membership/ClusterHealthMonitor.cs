using Analytics.Runtime.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Membership;

/// <summary>
/// Finds dead silos by probing them directly instead of waiting for their heartbeat to go stale.
/// Each round it probes the next few silos after this one on a ring ordered by address; a silo
/// that misses enough probes in a row gets this silo's suspicion vote in its table row, and the
/// vote that makes enough fresh votes from distinct silos writes it dead instead. Votes need
/// several watchers because one silo's failed probes may be its own network trouble; the ring
/// gives every silo several distinct watchers. All writes are conditional on the row's ETag and
/// the table version, so concurrent voters cannot lose each other's votes: the loser re-reads.
/// </summary>
internal sealed partial class ClusterHealthMonitor(
    IMembershipTable table,
    MembershipAgent agent,
    ISiloProber prober,
    IOptions<MembershipOptions> options,
    TimeProvider timeProvider,
    ILogger<ClusterHealthMonitor> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private const int MaxVoteAttempts = 5;

    private readonly MembershipOptions _options = options.Value;

    // Only the probing loop (or a test driving rounds) touches this, one round at a time.
    private readonly Dictionary<SiloAddress, int> _missedProbes = [];
    private CancellationTokenSource? _stopping;
    private Task? _loop;
    private int _disposed;

    public void Participate(ISiloLifecycle lifecycle)
    {
        if (!_options.DetectFailures)
        {
            return;
        }

        // Subscribed after the agent at the same stage: it starts once the silo is becoming
        // active, and on stop it ends right after the agent marks the silo ShuttingDown, long
        // before the agent leaves the table at RuntimeInitialize.
        lifecycle.Subscribe(nameof(ClusterHealthMonitor), ServiceLifecycleStage.BecomeActive, StartAsync, StopAsync);
    }

    /// <summary>Consecutive probes the silo has missed, as this monitor counted them.</summary>
    internal int GetMissedProbes(SiloAddress silo) => _missedProbes.GetValueOrDefault(silo);

    private Task StartAsync(CancellationToken cancellationToken)
    {
        // Linked to the agent, so a killed silo, or one that learned it was declared dead, stops
        // probing (and so voting) together with its membership.
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(agent.Stopping);
        var token = _stopping.Token;
        _loop = Task.Run(() => RunAsync(token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping?.Cancel();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        // A periodic timer rather than a delay after each round: a round waiting on timeouts must
        // not push the next probe back, or detection would take (interval + timeout) per miss.
        using var timer = new PeriodicTimer(_options.ProbeInterval, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await ProbeRoundAsync(cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception exception)
                {
                    // An unreachable table must not stop the monitor; the counts survive for the next round.
                    LogRoundFailed(exception);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Probes the watched silos once and votes against those that missed too many probes in a row.</summary>
    internal async Task ProbeRoundAsync(CancellationToken cancellationToken)
    {
        var local = agent.LocalSilo;
        var view = agent.Current;
        if (view.GetStatus(local) != SiloStatus.Active)
        {
            // Only an active silo votes; counts gathered while joining or leaving would be stale.
            _missedProbes.Clear();
            return;
        }

        var targets = SelectTargets(view, local, _options.NumProbedSilos);
        foreach (var gone in _missedProbes.Keys.Where(s => !targets.Contains(s)).ToList())
        {
            _missedProbes.Remove(gone);
        }

        var answered = await Task.WhenAll(targets.Select(t => ProbeOnceAsync(t, cancellationToken)));
        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            if (answered[i])
            {
                _missedProbes.Remove(target);
                continue;
            }

            var missed = _missedProbes.GetValueOrDefault(target) + 1;
            _missedProbes[target] = missed;
            LogProbeMissed(target, missed);
            if (missed >= _options.NumMissedProbesLimit)
            {
                // Every further miss votes again: it keeps this vote from expiring and recounts
                // against the current number of active silos, which may have dropped meanwhile.
                await TryVoteAsync(target, missed, cancellationToken);
            }
        }
    }

    /// <summary>
    /// The next <paramref name="count"/> silos after <paramref name="local"/> on the ring of
    /// probe-worthy silos ordered by address. Each silo thus watches its successors and is watched
    /// by its predecessors: different silos, enough of them to reach the votes needed.
    /// </summary>
    internal static List<SiloAddress> SelectTargets(MembershipView view, SiloAddress local, int count)
    {
        var ring = view.Entries
            .Where(e => e.Silo == local || e.Status is SiloStatus.Joining or SiloStatus.Active or SiloStatus.ShuttingDown)
            .Select(e => e.Silo)
            .Distinct()
            .OrderBy(s => s.ToString(), StringComparer.Ordinal)
            .ToList();
        var start = ring.IndexOf(local);
        var targets = new List<SiloAddress>(Math.Min(count, ring.Count));
        for (var step = 1; step <= ring.Count && targets.Count < count; step++)
        {
            var silo = ring[(start + step) % ring.Count];
            if (silo != local)
            {
                targets.Add(silo);
            }
        }

        return targets;
    }

    private async Task<bool> ProbeOnceAsync(SiloAddress target, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.ProbeTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            // WaitAsync as well as the token: a prober that ignores cancellation still counts as missed on time.
            await prober.ProbeAsync(target, linked.Token).WaitAsync(_options.ProbeTimeout, timeProvider, cancellationToken);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception exception)
        {
            LogProbeFailed(target, exception.GetType().Name, exception.Message);
            return false;
        }
    }

    /// <summary>
    /// Adds (or refreshes) this silo's vote on the suspect's row, dropping expired votes, and
    /// writes it dead instead when this vote completes the number needed.
    /// </summary>
    internal async Task TryVoteAsync(SiloAddress suspect, int missedProbes, CancellationToken cancellationToken)
    {
        var local = agent.LocalSilo;
        if (suspect == local)
        {
            return;
        }

        for (var attempt = 1; attempt <= MaxVoteAttempts; attempt++)
        {
            var snapshot = await table.ReadAllAsync(cancellationToken);
            var self = snapshot.Entries.FirstOrDefault(e => e.Entry.Silo == local).Entry;
            var (row, etag) = snapshot.Entries.FirstOrDefault(e => e.Entry.Silo == suspect);
            if (self is not { Status: SiloStatus.Active } || row is null || row.Status == SiloStatus.Dead)
            {
                // A silo that is not active has no say; a suspect already dead or gone needs no vote.
                return;
            }

            var now = timeProvider.GetUtcNow();
            var votes = row.Suspicions
                .Where(v => v.Voter != local && now - v.Time <= _options.DeathVoteExpiration)
                .GroupBy(v => v.Voter)
                .Select(g => g.MaxBy(v => v.Time)!)
                .Append(new SuspicionVote(local, now))
                .ToList();

            // Fewer votes suffice when fewer silos are left to cast them: with one other active
            // silo, its vote alone must be able to declare the suspect dead.
            var voters = snapshot.Entries.Count(e => e.Entry.Status == SiloStatus.Active && e.Entry.Silo != suspect);
            var needed = Math.Max(1, Math.Min(_options.NumVotesForDeathDeclaration, voters));
            var declare = votes.Count >= needed;
            var updated = row with { Suspicions = votes, Status = declare ? SiloStatus.Dead : row.Status };
            if (await table.UpdateRowAsync(updated, etag, snapshot.Version.Next(), cancellationToken))
            {
                if (declare)
                {
                    _missedProbes.Remove(suspect);
                    LogDeclaredDead(suspect, missedProbes, string.Join(", ", votes.Select(v => v.Voter)));
                    await agent.RefreshNowAsync(cancellationToken);
                }
                else
                {
                    LogVoted(suspect, missedProbes, votes.Count, needed);
                }

                return;
            }

            // Another silo changed the table in between (often a fellow voter): re-read and recount.
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 50)), timeProvider, cancellationToken);
        }

        LogVoteLost(suspect, MaxVoteAttempts);
    }

    public void Dispose()
    {
        // Registered under two service types, so the container may dispose it twice.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stopping?.Cancel();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Silo {Silo} did not answer a probe ({ExceptionType}: {Reason})")]
    private partial void LogProbeFailed(SiloAddress silo, string exceptionType, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Silo {Silo} has missed {Missed} probes in a row")]
    private partial void LogProbeMissed(SiloAddress silo, int missed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Voted silo {Silo} suspect after {Missed} missed probes; {Votes} of {Needed} votes needed")]
    private partial void LogVoted(SiloAddress silo, int missed, int votes, int needed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Declared silo {Silo} dead after {Missed} missed probes; voters: {Voters}")]
    private partial void LogDeclaredDead(SiloAddress silo, int missed, string voters);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record a vote against silo {Silo} after {Attempts} attempts; will retry on the next missed probe")]
    private partial void LogVoteLost(SiloAddress silo, int attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A failure-detection round failed; probing goes on")]
    private partial void LogRoundFailed(Exception exception);
}
