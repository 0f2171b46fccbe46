using Microsoft.Extensions.Logging;

namespace Analytics.Streaming.Kinesis;

/// <summary>
/// One silo's share of a provider's shard leases, kept the way the Kinesis Client Library keeps
/// them: each pass renews the leases held, takes free and expired ones up to a fair share, and
/// steals one at a time from a silo that holds at least two more. The table's conditional writes
/// decide every contest, so two silos never both believe they own a shard, and a silo that lost a
/// lease can no longer move its checkpoint. No Orleans types: <see cref="KinesisQueueBalancer"/>
/// runs the passes and tells the pulling agents.
/// </summary>
/// <remarks>
/// <para><b>Expiry</b> is judged by this silo's own clock: a lease whose owner and counter have not
/// changed for <see cref="KinesisStreamOptions.LeaseLength"/> since this silo first saw them is
/// expired, so clocks of different silos are never compared. A lease whose owner the membership
/// declared dead is expired at once: a dead silo never comes back.</para>
/// <para><b>Order across resharding.</b> A shard is ready only when each parent has ended (its
/// checkpoint is SHARD_END) or is no longer listed (trimmed). So a child is read from its start
/// only after its parents' last records were delivered and checkpointed, and each key's records
/// reach its consumers in order across splits and merges.</para>
/// <para><b>Fair share.</b> The workers are the live owners in the table plus this silo, or the
/// active silos of the cluster (less those whose leases all expired) when there are more, so that
/// silos starting together do not first take everything and then steal it back. A lease that stays free for a lease length is taken
/// whatever the share, so that no shard is left unread by silos that do not run this provider.</para>
/// </remarks>
public sealed partial class ShardLeaseManager(
    IShardLeaseTable table,
    string owner,
    KinesisStreamOptions options,
    TimeProvider time,
    ILogger logger,
    Func<string, bool>? isOwnerDead = null)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<string, HeldLease> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string? Owner, long Counter, long Since)> _observed = new(StringComparer.Ordinal);
    private HashSet<string> _listed = new(StringComparer.Ordinal);

    public string Owner => owner;

    /// <summary>The shards whose leases this silo holds now.</summary>
    public IReadOnlyList<string> HeldShards
    {
        get
        {
            lock (_held)
            {
                return [.. _held.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>How many silos share the shards at least (the cluster's active silos), or 0 when unknown.</summary>
    public int ActiveSilos { get; set; }

    public bool Holds(string shard)
    {
        lock (_held)
        {
            return _held.ContainsKey(shard);
        }
    }

    /// <summary>
    /// One balancing pass. <paramref name="listed"/> is a fresh shard listing, or null to use the
    /// last one: new shards get a lease, and ended leases of shards no longer listed are deleted.
    /// Returns true when the set of held shards changed.
    /// </summary>
    public async Task<bool> BalanceAsync(IReadOnlyList<ShardInfo>? listed, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var before = HeldShards;
            // Renewals first: whatever fails later in the pass must not let held leases expire.
            await RenewAsync(cancellationToken).ConfigureAwait(false);
            if (listed is not null)
            {
                foreach (var shard in listed.Where(s => !_observed.ContainsKey(s.Shard)))
                {
                    await table.CreateIfMissingAsync(shard, cancellationToken).ConfigureAwait(false);
                }

                _listed = listed.Select(s => s.Shard).ToHashSet(StringComparer.Ordinal);
            }

            var leases = await table.ListAsync(cancellationToken).ConfigureAwait(false);
            Observe(leases);
            if (listed is not null)
            {
                foreach (var ended in leases.Where(l => l.IsEnded && !_listed.Contains(l.Shard)))
                {
                    await table.DeleteAsync(ended, cancellationToken).ConfigureAwait(false);
                }
            }

            await TakeFairShareAsync(leases, cancellationToken).ConfigureAwait(false);
            return !before.SequenceEqual(HeldShards);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Moves a held shard's checkpoint. False (and the shard is dropped) when this silo no longer owns it.</summary>
    public async Task<bool> CheckpointAsync(string shard, QueuePosition position, CancellationToken cancellationToken)
    {
        if (await table.TryCheckpointAsync(shard, owner, position.ToString(), cancellationToken).ConfigureAwait(false))
        {
            return true;
        }

        Drop(shard);
        LogCheckpointRefused(shard);
        return false;
    }

    /// <summary>
    /// Records that a held shard was read and checkpointed to its end, then gives its lease up, so
    /// that its children become ready. False (and the shard is dropped) when this silo no longer owns it.
    /// </summary>
    public async Task<bool> EndAsync(string shard, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!await table.TryCheckpointAsync(shard, owner, ShardLease.EndCheckpoint, cancellationToken).ConfigureAwait(false))
            {
                Drop(shard);
                LogLeaseLost(shard);
                return false;
            }

            if (Get(shard) is { } held)
            {
                await table.TryReleaseAsync(held.Lease, cancellationToken).ConfigureAwait(false);
            }

            Drop(shard);
            LogShardEnded(shard);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Graceful stop: gives every held lease up so that other silos take them at once, checkpoints kept.</summary>
    public async Task ReleaseAllAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            List<HeldLease> held;
            lock (_held)
            {
                held = [.. _held.Values];
                _held.Clear();
            }

            foreach (var lease in held)
            {
                await table.TryReleaseAsync(lease.Lease, cancellationToken).ConfigureAwait(false);
            }

            LogReleased(held.Count);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task RenewAsync(CancellationToken cancellationToken)
    {
        List<HeldLease> held;
        lock (_held)
        {
            held = [.. _held.Values];
        }

        foreach (var lease in held)
        {
            ShardLease? renewed;
            try
            {
                renewed = await table.TryRenewAsync(lease.Lease, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                // The table is unreachable. Others may already see the lease as expired: once a whole
                // lease length has passed without a renewal, stop reading rather than read in parallel.
                if (time.GetElapsedTime(lease.RenewedAt) < options.LeaseLength)
                {
                    LogRenewFailed(exception, lease.Lease.Shard);
                    continue;
                }

                renewed = null;
            }

            if (renewed is null)
            {
                // Taken by another silo (we looked expired to it, or it stole): stop reading at once.
                Drop(lease.Lease.Shard);
                LogLeaseLost(lease.Lease.Shard);
                continue;
            }

            Set(new HeldLease(renewed, time.GetTimestamp()));
        }
    }

    private void Observe(IReadOnlyList<ShardLease> leases)
    {
        var now = time.GetTimestamp();
        foreach (var lease in leases)
        {
            if (!_observed.TryGetValue(lease.Shard, out var seen) || seen.Owner != lease.Owner || seen.Counter != lease.Counter)
            {
                _observed[lease.Shard] = (lease.Owner, lease.Counter, now);
            }
        }
    }

    private bool IsExpired(ShardLease lease) =>
        lease.Owner is not null && lease.Owner != owner
        && (time.GetElapsedTime(_observed[lease.Shard].Since) >= options.LeaseLength || isOwnerDead?.Invoke(lease.Owner) == true);

    private bool IsReady(ShardLease lease, Dictionary<string, ShardLease> byShard) =>
        !lease.IsEnded && _listed.Contains(lease.Shard) && lease.Parents.All(parent =>
            !_listed.Contains(parent) || (byShard.TryGetValue(parent, out var parentLease) && parentLease.IsEnded));

    private async Task TakeFairShareAsync(IReadOnlyList<ShardLease> leases, CancellationToken cancellationToken)
    {
        var byShard = leases.ToDictionary(l => l.Shard, StringComparer.Ordinal);
        var candidates = leases.Where(l => IsReady(l, byShard)).ToList();
        var load = candidates.Where(l => l.Owner is not null && l.Owner != owner && !IsExpired(l))
            .GroupBy(l => l.Owner!).ToDictionary(g => g.Key, g => g.ToList());
        var mine = candidates.Count(l => Holds(l.Shard));
        // A silo whose leases all expired is not working, whatever the membership says yet.
        var stalled = candidates.Where(IsExpired).Select(l => l.Owner!).Distinct().Count(o => !load.ContainsKey(o));
        var workers = Math.Max(load.Count + 1, ActiveSilos - stalled);
        var target = candidates.Count == 0 ? 0 : (candidates.Count + workers - 1) / workers;
        var took = 0;
        foreach (var lease in candidates.Where(l => !Holds(l.Shard) && (l.Owner is null || IsExpired(l))).OrderBy(_ => Random.Shared.Next()))
        {
            // A lease nobody took for a whole lease length is taken anyway: no live silo wants it.
            var unwanted = lease.Owner is null && time.GetElapsedTime(_observed[lease.Shard].Since) >= options.LeaseLength;
            if (mine >= target && !unwanted)
            {
                continue;
            }

            if (await TakeAsync(lease, cancellationToken).ConfigureAwait(false))
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
            if (await TakeAsync(victim, cancellationToken).ConfigureAwait(false))
            {
                mine++;
                took++;
                LogStole(victim.Shard, victim.Owner!);
            }
        }

        if (took > 0)
        {
            LogOwnership(mine, candidates.Count, target);
        }
    }

    private async Task<bool> TakeAsync(ShardLease observed, CancellationToken cancellationToken)
    {
        var taken = await table.TryAcquireAsync(observed, owner, cancellationToken).ConfigureAwait(false);
        if (taken is null)
        {
            return false;
        }

        Set(new HeldLease(taken, time.GetTimestamp()));
        return true;
    }

    private HeldLease? Get(string shard)
    {
        lock (_held)
        {
            return _held.GetValueOrDefault(shard);
        }
    }

    private void Set(HeldLease lease)
    {
        lock (_held)
        {
            _held[lease.Lease.Shard] = lease;
        }
    }

    private void Drop(string shard)
    {
        lock (_held)
        {
            _held.Remove(shard);
        }
    }

    /// <summary>A lease as this silo last wrote it, and when (this silo's clock) it was last renewed or taken.</summary>
    private sealed record HeldLease(ShardLease Lease, long RenewedAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "This silo holds {Held} of {Ready} readable shards (fair share {Target})")]
    private partial void LogOwnership(int held, int ready, int target);

    [LoggerMessage(Level = LogLevel.Information, Message = "Took the lease of shard {Shard} from {Owner} to even out the load")]
    private partial void LogStole(string shard, string owner);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The lease of shard {Shard} was taken by another silo; this silo stops reading it")]
    private partial void LogLeaseLost(string shard);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A checkpoint of shard {Shard} was refused: another silo holds its lease now; this silo stops reading it")]
    private partial void LogCheckpointRefused(string shard);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Renewing the lease of shard {Shard} failed; retrying at the next pass")]
    private partial void LogRenewFailed(Exception exception, string shard);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shard {Shard} was read to its end; its lease is released for its children")]
    private partial void LogShardEnded(string shard);

    [LoggerMessage(Level = LogLevel.Information, Message = "Released {Count} shard leases on stop")]
    private partial void LogReleased(int count);
}
