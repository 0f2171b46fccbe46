using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Streaming.Leases;

/// <summary>
/// Balances a provider's queues through a lease table, as the Kinesis Client Library does: each
/// silo renews the leases it holds, takes free and expired ones up to its fair share, and steals
/// one at a time from a silo that holds at least two more than it does. The table's conditional
/// writes decide every contest, so two silos never both read a queue for long, and a silo that
/// lost a lease can no longer move its checkpoint (<see cref="LeaseCheckpointer"/>).
/// </summary>
/// <remarks>
/// <para><b>Expiry</b> is judged by this silo's own clock: a lease whose owner and counter have not
/// changed for <see cref="LeaseBalancerOptions.LeaseDuration"/> since this silo first saw them is
/// expired. Clocks of different silos are never compared. A lease whose owner the membership table
/// declared dead is expired at once: a dead silo never comes back, and its agents could not move a
/// checkpoint anyway. So a killed silo's queues move as soon as it is voted dead (3–5 s), not a
/// lease duration after its last renewal; each view change runs a balancing pass.</para>
/// <para><b>Order across resharding.</b> A queue is ready only when every parent has ended (its
/// lease checkpoint is SHARD_END) or is gone from both the stream and the table (trimmed). So a
/// child shard starts from its beginning after its parents' last records were delivered and
/// checkpointed, and each key's records reach its grain in order across splits and merges.</para>
/// <para><b>Ended queues</b> are released when their agent has checkpointed the end, and their
/// lease is deleted once the stream no longer lists the queue.</para>
/// </remarks>
internal sealed partial class LeaseQueueBalancer(
    StreamProviderRuntime provider,
    PullingAgentSet agents,
    IQueueLeaseTable table,
    LeaseBalancerOptions options,
    LocalSiloDetails local,
    ILogger<LeaseQueueBalancer> logger,
    IMembershipViewProvider? membership = null) : IQueueBalancer
{
    private readonly ILogger _logger = logger;
    private readonly string _owner = local.SiloAddress.ToString();
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<QueueId, QueueLease> _held = [];
    private readonly Dictionary<QueueId, (string? Owner, long Counter, long Since)> _observed = [];
    private HashSet<string> _listed = [];
    private readonly Dictionary<string, SiloAddress?> _owners = new(StringComparer.Ordinal);
    private long? _lastRefresh;
    private Task? _loop;
    private IDisposable? _viewSubscription;

    public IReadOnlyList<(QueueId Queue, QueueAgentStatistics Statistics)> Agents => agents.Statistics;

    /// <summary>The queues whose leases this silo holds.</summary>
    public IReadOnlyList<QueueId> HeldLeases
    {
        get
        {
            lock (_held)
            {
                return _held.Keys.ToList();
            }
        }
    }

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe($"{nameof(LeaseQueueBalancer)}({provider.Name})", ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        await table.InitializeAsync(cancellationToken);
        await BalanceAsync();
        _loop = PeriodicLoop.Run(options.RenewInterval, provider.TimeProvider, _stopping.Token, BalanceAsync, e => LogBalanceFailed(e, provider.Name));
        _viewSubscription = membership?.Subscribe(view => { _ = BalanceAfterViewChangeAsync(); });
    }

    private async Task BalanceAfterViewChangeAsync()
    {
        try
        {
            await BalanceAsync();
        }
        catch (Exception exception)
        {
            // Not awaited by anyone: log here, unless the silo is stopping and the pass was cut short.
            if (!_stopping.IsCancellationRequested)
            {
                LogBalanceFailed(exception, provider.Name);
            }
        }
    }

    /// <summary>Graceful stop: agents flush and checkpoint, then the leases are released so that other silos take them at once.</summary>
    private async Task StopAsync(CancellationToken cancellationToken)
    {
        _viewSubscription?.Dispose();
        _stopping.Cancel();
        if (_loop is not null)
        {
            await _loop;
        }

        await _lock.WaitAsync(CancellationToken.None);
        try
        {
            await agents.StopAllAsync();
            foreach (var lease in Held())
            {
                await table.TryReleaseAsync(lease, CancellationToken.None);
            }

            LogReleased(provider.Name, _held.Count);
            lock (_held)
            {
                _held.Clear();
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Kill()
    {
        _viewSubscription?.Dispose();
        _stopping.Cancel();
        agents.KillAll();
    }

    private async Task BalanceAsync()
    {
        await _lock.WaitAsync(CancellationToken.None);
        try
        {
            if (_stopping.IsCancellationRequested)
            {
                return;
            }

            var ct = _stopping.Token;
            var refreshed = await RefreshQueuesAsync(ct);
            await RetireFinishedAsync(ct);
            await RenewAsync(ct);
            var leases = await table.ListAsync(provider.Name, ct);
            Observe(leases);
            if (refreshed)
            {
                await DeleteTrimmedAsync(leases, ct);
            }

            await TakeFairShareAsync(leases, ct);
            foreach (var lease in Held().Where(l => !agents.Contains(l.Queue)))
            {
                agents.Start(lease.Queue, new LeaseCheckpointer(table, lease));
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Re-reads the queue list every QueueRefreshInterval and adds a lease for each new queue.</summary>
    private async Task<bool> RefreshQueuesAsync(CancellationToken ct)
    {
        var time = provider.TimeProvider;
        if (_lastRefresh is { } last && time.GetElapsedTime(last) < provider.Options.QueueRefreshInterval)
        {
            return false;
        }

        var lineage = await provider.Adapter.GetQueueLineageAsync(ct);
        foreach (var queue in lineage.Where(q => !_observed.ContainsKey(q.Queue)))
        {
            await table.CreateIfMissingAsync(queue, ct);
        }

        _listed = lineage.Select(q => q.Queue.Name).ToHashSet(StringComparer.Ordinal);
        _lastRefresh = time.GetTimestamp();
        return true;
    }

    /// <summary>Agents that finished on their own: at a queue's end the lease is released; after a failure the agent is started again below.</summary>
    private async Task RetireFinishedAsync(CancellationToken ct)
    {
        foreach (var (queue, reachedEnd) in agents.CollectFinished().Where(f => f.ReachedEnd))
        {
            if (Held().FirstOrDefault(l => l.Queue == queue) is { } lease)
            {
                await table.TryReleaseAsync(lease, ct);
                SetHeld(queue, null);
                LogQueueEnded(queue);
            }
        }
    }

    private async Task RenewAsync(CancellationToken ct)
    {
        foreach (var lease in Held())
        {
            var renewed = await table.TryRenewAsync(lease, ct);
            if (renewed is null)
            {
                // Taken by another silo (we looked expired to it, or it stole): stop reading at once.
                agents.Kill(lease.Queue);
                LogLeaseLost(lease.Queue);
            }

            SetHeld(lease.Queue, renewed);
        }
    }

    private void Observe(IReadOnlyList<QueueLease> leases)
    {
        var now = provider.TimeProvider.GetTimestamp();
        foreach (var lease in leases)
        {
            if (!_observed.TryGetValue(lease.Queue, out var seen) || seen.Owner != lease.Owner || seen.Counter != lease.Counter)
            {
                _observed[lease.Queue] = (lease.Owner, lease.Counter, now);
            }
        }
    }

    private bool IsExpired(QueueLease lease) =>
        lease.Owner is not null && lease.Owner != _owner
        && (provider.TimeProvider.GetElapsedTime(_observed[lease.Queue].Since) >= options.LeaseDuration || IsDeclaredDead(lease.Owner));

    private bool IsDeclaredDead(string owner)
    {
        if (membership is null)
        {
            return false;
        }

        if (!_owners.TryGetValue(owner, out var silo))
        {
            // Owners are silo addresses; anything else (a lease written by another tool) just expires by time.
            try
            {
                silo = SiloAddress.Parse(owner);
            }
            catch (FormatException)
            {
                silo = null;
            }

            _owners[owner] = silo;
        }

        return silo is not null && membership.Current.GetStatus(silo) == SiloStatus.Dead;
    }

    private bool IsReady(QueueLease lease, Dictionary<string, QueueLease> byName) =>
        !lease.IsEnded && lease.Parents.All(parent =>
            byName.TryGetValue(parent, out var parentLease) ? parentLease.IsEnded : !_listed.Contains(parent));

    private async Task TakeFairShareAsync(IReadOnlyList<QueueLease> leases, CancellationToken ct)
    {
        var byName = leases.ToDictionary(l => l.Queue.Name, StringComparer.Ordinal);
        var candidates = leases.Where(l => IsReady(l, byName)).ToList();
        var load = candidates.Where(l => l.Owner is not null && l.Owner != _owner && !IsExpired(l))
            .GroupBy(l => l.Owner!).ToDictionary(g => g.Key, g => g.ToList());
        var mine = _held.Count;
        var target = candidates.Count == 0 ? 0 : (int)Math.Ceiling(candidates.Count / (double)(load.Count + 1));
        var took = 0;
        foreach (var lease in candidates.Where(l => l.Owner is null || IsExpired(l)).OrderBy(_ => Random.Shared.Next()))
        {
            if (mine >= target)
            {
                break;
            }

            if (await TakeAsync(lease, ct))
            {
                mine++;
                took++;
            }
        }

        // Still short, and nothing free: take from the busiest silo, but only where that evens the
        // load out (it holds at least two more), so that two silos never trade a lease back and forth.
        for (var stolen = 0; stolen < options.MaxLeasesToStealAtOneTime && mine < target; stolen++)
        {
            var busiest = load.OrderByDescending(o => o.Value.Count).FirstOrDefault();
            if (busiest.Value is not { } victims || victims.Count < mine + 2)
            {
                break;
            }

            var victim = victims[Random.Shared.Next(victims.Count)];
            victims.Remove(victim);
            if (await TakeAsync(victim, ct))
            {
                mine++;
                took++;
                LogStole(victim.Queue, victim.Owner!);
            }
        }

        if (took > 0)
        {
            LogOwnership(provider.Name, mine, candidates.Count, target);
        }
    }

    private async Task<bool> TakeAsync(QueueLease observed, CancellationToken ct)
    {
        var taken = await table.TryAcquireAsync(observed, _owner, ct);
        SetHeld(observed.Queue, taken);
        return taken is not null;
    }

    /// <summary>Deletes the leases of ended queues that the stream no longer lists: trimmed past retention.</summary>
    private async Task DeleteTrimmedAsync(IReadOnlyList<QueueLease> leases, CancellationToken ct)
    {
        if (_listed.Count == 0)
        {
            return;
        }

        foreach (var lease in leases.Where(l => l.IsEnded && !_listed.Contains(l.Queue.Name)))
        {
            await table.DeleteAsync(lease, ct);
        }
    }

    private List<QueueLease> Held()
    {
        lock (_held)
        {
            return _held.Values.ToList();
        }
    }

    private void SetHeld(QueueId queue, QueueLease? lease)
    {
        lock (_held)
        {
            if (lease is null)
            {
                _held.Remove(queue);
            }
            else
            {
                _held[queue] = lease;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stream provider {Provider}: this silo holds {Held} of {Ready} readable queues (fair share {Target})")]
    private partial void LogOwnership(string provider, int held, int ready, int target);

    [LoggerMessage(Level = LogLevel.Information, Message = "Took the lease of {Queue} from {Owner} to even out the load")]
    private partial void LogStole(QueueId queue, string owner);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The lease of {Queue} was taken by another silo; its agent stopped")]
    private partial void LogLeaseLost(QueueId queue);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Queue} ended; its lease is released")]
    private partial void LogQueueEnded(QueueId queue);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stream provider {Provider}: released {Count} leases on stop")]
    private partial void LogReleased(string provider, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stream provider {Provider}: lease balancing failed")]
    private partial void LogBalanceFailed(Exception exception, string provider);
}
