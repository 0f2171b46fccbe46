using System.Collections.Immutable;
using Analytics.Runtime.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Membership;

/// <summary>
/// Joins the silo to the membership table, keeps its heartbeat, re-reads the table into a view,
/// declares silos with stale heartbeats dead, and leaves on stop. Every row change is a
/// conditional write on the row's ETag and the table version, so two silos racing to change the
/// table cannot both succeed; the loser re-reads and tries again. Every
/// <see cref="MembershipOptions.DefunctSiloCleanupPeriod"/> it also deletes the rows of silos dead for
/// longer than <see cref="MembershipOptions.DefunctSiloExpiration"/>, so the table does not grow with
/// every silo that ever started.
/// </summary>
internal sealed partial class MembershipAgent(
    IMembershipTable table,
    LocalSiloDetails local,
    IOptions<MembershipOptions> options,
    TimeProvider timeProvider,
    IHostApplicationLifetime? lifetime,
    ILogger<MembershipAgent> logger) : IMembershipViewProvider, ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly MembershipOptions _options = options.Value;
    private readonly object _subscribersLock = new();
    private readonly object _publishLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private ImmutableList<Action<MembershipView>> _subscribers = [];
    private Task? _loop;
    private Task? _cleanup;
    private volatile bool _joined;
    private string? _currentVersionETag;
    private volatile MembershipView _current = MembershipView.Empty;
    private DateTimeOffset _startTime;

    public MembershipView Current => _current;

    public SiloAddress LocalSilo => local.SiloAddress;


    public IDisposable Subscribe(Action<MembershipView> onChanged)
    {
        lock (_subscribersLock)
        {
            _subscribers = _subscribers.Add(onChanged);
        }

        return new Unsubscriber(this, onChanged);
    }

    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe(nameof(MembershipAgent), ServiceLifecycleStage.RuntimeInitialize, JoinAsync, LeaveAsync);
        lifecycle.Subscribe(nameof(MembershipAgent), ServiceLifecycleStage.BecomeActive, BecomeActiveAsync, ShutDownAsync);
    }

    private async Task JoinAsync(CancellationToken cancellationToken)
    {
        await table.InitializeAsync(cancellationToken);
        _startTime = timeProvider.GetUtcNow();
        await ChangeOwnStatusAsync(SiloStatus.Joining, insert: true, cancellationToken);
        // From here on the row exists until the silo is dead: a refresh that does not find it means it was deleted as defunct.
        _joined = true;
        await RefreshAsync(cancellationToken);
        // Timed from here, not from whenever the thread pool first runs the loop.
        var started = timeProvider.GetUtcNow();
        _loop = Task.Run(() => RunAsync(started, _stopping.Token), CancellationToken.None);
    }

    private async Task BecomeActiveAsync(CancellationToken cancellationToken)
    {
        await ChangeOwnStatusAsync(SiloStatus.Active, insert: false, cancellationToken);
        await RefreshAsync(cancellationToken);
        LogJoined(local.SiloAddress, _current.ActiveSilos.Length);
    }

    private Task ShutDownAsync(CancellationToken cancellationToken) => ChangeOwnStatusAsync(SiloStatus.ShuttingDown, insert: false, cancellationToken);

    private async Task LeaveAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        if (_cleanup is { } cleanup)
        {
            // Cancelled with the loop; it logs its own failures and never throws.
            await cleanup.ConfigureAwait(false);
        }

        await ChangeOwnStatusAsync(SiloStatus.Dead, insert: false, cancellationToken);
        LogLeft(local.SiloAddress);
    }

    private async Task RunAsync(DateTimeOffset started, CancellationToken cancellationToken)
    {
        var lastHeartbeat = started;
        var lastCleanup = started;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.RefreshInterval, timeProvider, cancellationToken);
                var now = timeProvider.GetUtcNow();
                if (now - lastCleanup >= _options.DefunctSiloCleanupPeriod && _cleanup is not { IsCompleted: false })
                {
                    // Not awaited: deleting the rows of a table that grew large (throttled, retried) must
                    // not hold up the heartbeat and the refresh. One cleanup at a time.
                    _cleanup = CleanupDefunctSilosAsync(now, cancellationToken);
                    lastCleanup = now;
                }

                if (now - lastHeartbeat >= _options.IAmAliveInterval)
                {
                    await table.UpdateIAmAliveAsync(local.SiloAddress, now, cancellationToken);
                    lastHeartbeat = now;
                }

                await RefreshAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                // The table being unreachable must not kill the silo; the view stays as it was
                // (safety over liveness: nobody is declared dead on a guess).
                LogRefreshFailed(exception);
            }
        }
    }

    /// <summary>Cancelled when the agent stops, is killed, or learns this silo was declared dead; the health monitor stops with it.</summary>
    internal CancellationToken Stopping => _stopping.Token;

    /// <summary>Lets the health monitor publish a death it just wrote without waiting for the next refresh.</summary>
    internal Task RefreshNowAsync(CancellationToken cancellationToken) => RefreshAsync(cancellationToken);

    /// <summary>Deletes the rows of silos dead for longer than <see cref="MembershipOptions.DefunctSiloExpiration"/>; logs and swallows failures.</summary>
    internal async Task CleanupDefunctSilosAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            var deleted = await table.CleanupDefunctSiloEntriesAsync(now - _options.DefunctSiloExpiration, cancellationToken);
            if (deleted > 0)
            {
                LogDefunctSilosDeleted(deleted, _options.DefunctSiloExpiration);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception exception)
        {
            // As for the refresh: the table being unreachable must not kill the silo; the next period tries again.
            LogCleanupFailed(exception);
        }
    }

    /// <summary>Reads the table, declares stale silos dead, and publishes a new view if it changed.</summary>
    internal async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var snapshot = await table.ReadAllAsync(cancellationToken);
        var self = snapshot.Entries.FirstOrDefault(e => e.Entry.Silo == local.SiloAddress);
        // A joined silo whose row is gone was declared dead and then deleted as defunct (it was away longer
        // than DefunctSiloExpiration): exactly as dead, and it must not come back.
        var removed = self.Entry is null && _joined;
        if ((removed || self.Entry is { Status: SiloStatus.Dead }) && !_stopping.IsCancellationRequested)
        {
            if (removed)
            {
                LogRemovedFromTable(local.SiloAddress);
            }
            else
            {
                LogDeclaredDead(local.SiloAddress);
            }

            _stopping.Cancel();
            lifetime?.StopApplication();
            return;
        }

        if (_options.DetectFailures && self.Entry is { Status: SiloStatus.Active })
        {
            var now = timeProvider.GetUtcNow();
            foreach (var (entry, etag) in snapshot.Entries)
            {
                if (entry.Silo != local.SiloAddress && entry.Status is SiloStatus.Joining or SiloStatus.Active or SiloStatus.ShuttingDown or SiloStatus.Stopping
                    && now - Max(entry.IAmAliveTime, entry.StartTime) > _options.DeathTimeout)
                {
                    var dead = entry with { Status = SiloStatus.Dead, Suspicions = [.. entry.Suspicions, new SuspicionVote(local.SiloAddress, now)] };
                    if (await table.UpdateRowAsync(dead, etag, snapshot.Version.Next(), cancellationToken))
                    {
                        LogDeclaredOtherDead(entry.Silo, (now - entry.IAmAliveTime).TotalSeconds);
                        await RefreshAsync(cancellationToken);
                        return;
                    }
                }
            }
        }

        Publish(new MembershipView(snapshot.Version.Version, snapshot.Entries.Select(e => e.Entry).ToList()), snapshot.Version.ETag);
    }

    private void Publish(MembershipView view, string versionETag)
    {
        // Refreshes run concurrently (the loop, BecomeActive, the health monitor after a death):
        // the lock keeps an older view from overwriting a newer one and subscribers seeing them
        // out of order. Subscribers only schedule work, so calling them under the lock is cheap.
        lock (_publishLock)
        {
            var previous = _current;
            if (view.Version <= previous.Version && previous != MembershipView.Empty)
            {
                // Deleting defunct rows does not advance the version. Between two reads of the same version
                // and version ETag rows can only have been heartbeated or deleted, so fewer rows is the newer
                // read: take it, quietly, as only long-dead silos left and subscribers already saw them dead.
                if (view.Version == previous.Version && versionETag == _currentVersionETag && view.Entries.Count < previous.Entries.Count)
                {
                    _current = view;
                }

                return;
            }

            _current = view;
            _currentVersionETag = versionETag;
            if (previous.SameActiveSet(view) && previous.Entries.Count == view.Entries.Count)
            {
                return;
            }

            LogViewChanged(view.Version, string.Join(", ", view.ActiveSilos));
            foreach (var subscriber in _subscribers)
            {
                try
                {
                    subscriber(view);
                }
                catch (Exception exception)
                {
                    LogSubscriberFailed(exception);
                }
            }
        }
    }

    private async Task ChangeOwnStatusAsync(SiloStatus status, bool insert, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var snapshot = await table.ReadAllAsync(cancellationToken);
            var existing = snapshot.Entries.FirstOrDefault(e => e.Entry.Silo == local.SiloAddress);
            if (existing.Entry is { Status: SiloStatus.Dead } && status != SiloStatus.Dead)
            {
                throw new InvalidOperationException($"Silo {local.SiloAddress} was declared dead and cannot change its status to {status}.");
            }

            if (existing.Entry is null && !insert)
            {
                // Only the join inserts. A row missing later was declared dead and deleted as defunct: writing
                // it again would bring a dead silo back. Leaving has nothing left to mark.
                if (status == SiloStatus.Dead)
                {
                    return;
                }

                throw new InvalidOperationException($"Silo {local.SiloAddress} was declared dead and removed from the membership table; it cannot change its status to {status}.");
            }

            var now = timeProvider.GetUtcNow();
            var entry = new MembershipEntry
            {
                Silo = local.SiloAddress,
                Status = status,
                SiloName = local.Name,
                Zone = local.Zone,
                StartTime = _startTime,
                IAmAliveTime = now,
                Endpoints = local.Endpoints,
            };
            var written = insert && existing.Entry is null
                ? await table.InsertRowAsync(entry, snapshot.Version.Next(), cancellationToken)
                : await table.UpdateRowAsync(entry, existing.ETag, snapshot.Version.Next(), cancellationToken);
            if (written)
            {
                return;
            }

            // Somebody else changed the table in between: read again and retry, with a little
            // jitter so that silos starting together do not collide forever.
            if (attempt > 50)
            {
                throw new InvalidOperationException($"Could not write status {status} for silo {local.SiloAddress} to the membership table after {attempt} attempts.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(5, 50)), timeProvider, cancellationToken);
        }
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    public void Dispose()
    {
        // Registered under several service types, so the container may dispose it more than once.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _stopping.Cancel();
        }
    }

    private int _disposed;

    private sealed class Unsubscriber(MembershipAgent agent, Action<MembershipView> callback) : IDisposable
    {
        public void Dispose()
        {
            lock (agent._subscribersLock)
            {
                agent._subscribers = agent._subscribers.Remove(callback);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Silo} joined the cluster; {ActiveCount} silos are active")]
    private partial void LogJoined(SiloAddress silo, int activeCount);

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Silo} left the cluster")]
    private partial void LogLeft(SiloAddress silo);

    [LoggerMessage(Level = LogLevel.Information, Message = "Membership view {Version}: active silos {Silos}")]
    private partial void LogViewChanged(int version, string silos);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Declared silo {Silo} dead: no heartbeat for {Seconds:0.0} s")]
    private partial void LogDeclaredOtherDead(SiloAddress silo, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "This silo ({Silo}) was declared dead by the cluster; stopping")]
    private partial void LogDeclaredDead(SiloAddress silo);

    [LoggerMessage(Level = LogLevel.Error, Message = "This silo ({Silo}) is no longer in the membership table: it was declared dead and its row deleted as defunct; stopping")]
    private partial void LogRemovedFromTable(SiloAddress silo);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} defunct silo rows (dead for longer than {Expiration}) from the membership table")]
    private partial void LogDefunctSilosDeleted(int count, TimeSpan expiration);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deleting defunct silo rows from the membership table failed; trying again next period")]
    private partial void LogCleanupFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the membership table failed; keeping the current view")]
    private partial void LogRefreshFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "A membership view subscriber failed")]
    private partial void LogSubscriberFailed(Exception exception);
}
