using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Analytics.Streaming.Kinesis;

/// <summary>
/// The Orleans queue balancer of a Kinesis provider: this silo's pulling agents read the shards
/// whose leases <see cref="ShardLeaseManager"/> holds. A pass runs every lease renew period, at
/// once when the cluster's membership changes (a dead silo's leases are free the moment it is
/// declared dead) and when a shard ends (its children may be ready); the shards are listed again
/// every <see cref="KinesisStreamOptions.ShardRefreshInterval"/> and after a shard ended.
/// </summary>
public sealed partial class KinesisQueueBalancer : QueueBalancerBase
{
    private readonly string _provider;
    private readonly KinesisShardDirectory _directory;
    private readonly IShardLeaseTable _table;
    private readonly KinesisStreamOptions _options;
    private readonly TimeProvider _time;
    private readonly IClusterMembershipService _membership;
    private readonly ConcurrentDictionary<string, SiloAddress?> _owners = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private long? _lastListing;
    private volatile bool _listNow;
    private Task _loop = Task.CompletedTask;

    public KinesisQueueBalancer(
        IServiceProvider services,
        string provider,
        KinesisShardDirectory directory,
        IShardLeaseTable table,
        KinesisStreamOptions options,
        TimeProvider time,
        ILogger<KinesisQueueBalancer> logger)
        : base(services, logger)
    {
        _provider = provider;
        _directory = directory;
        _table = table;
        _options = options;
        _time = time;
        _membership = services.GetRequiredService<IClusterMembershipService>();
        Leases = new ShardLeaseManager(table, SiloAddress.ToParsableString(), options, time, logger, IsDeclaredDead);
    }

    /// <summary>This silo's leases; the provider's checkpointer writes through it.</summary>
    public ShardLeaseManager Leases { get; }

    public override IEnumerable<QueueId> GetMyQueues() => Leases.HeldShards.Select(KinesisQueueIds.ForShard);

    public override async Task Initialize(IStreamQueueMapper queueMapper)
    {
        await _table.InitializeAsync(Cancellation).ConfigureAwait(false);
        await base.Initialize(queueMapper).ConfigureAwait(false);
        // The membership stream reports later; silos starting together should not all take everything first.
        Leases.ActiveSilos = _membership.CurrentSnapshot.Members.Values.Count(m => m.Status == SiloStatus.Active);
        // A first pass before the pulling agents start, so that they start on this silo's share at once.
        await PassAsync().ConfigureAwait(false);
        // The loop outlives this call: keep the caller's ambient context (its activation) out of it.
        using (ExecutionContext.IsFlowSuppressed() ? default(AsyncFlowControl?) : ExecutionContext.SuppressFlow())
        {
            _loop = Task.Run(RunAsync);
        }
    }

    /// <summary>Called after the pulling agents stopped (and checkpointed): the leases go, so that other silos take them at once.</summary>
    public override async Task Shutdown()
    {
        await base.Shutdown().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        using var timeout = new CancellationTokenSource(_options.LeaseLength);
        try
        {
            await Leases.ReleaseAllAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // They expire instead; nothing is lost, only the hand-over is slower.
            LogReleaseFailed(Logger, exception, _provider);
        }
    }

    /// <summary>Asks for a pass now (and a fresh shard listing, when <paramref name="listShards"/>).</summary>
    public void Wake(bool listShards = false)
    {
        _listNow |= listShards;
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // A pass is already due.
        }
    }

    protected override void OnClusterMembershipChange(HashSet<SiloAddress> activeSilos)
    {
        Leases.ActiveSilos = activeSilos.Count;
        Wake();
    }

    private async Task RunAsync()
    {
        while (!Cancellation.IsCancellationRequested)
        {
            try
            {
                await WaitForPassAsync().ConfigureAwait(false);
                await PassAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (Cancellation.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                LogPassFailed(Logger, exception, _provider);
            }
        }
    }

    /// <summary>Until the renew period is over, or a pass is asked for sooner.</summary>
    private async Task WaitForPassAsync()
    {
        using var period = new CancellationTokenSource(_options.LeaseRenewPeriod, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(period.Token, Cancellation);
        try
        {
            await _wake.WaitAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!Cancellation.IsCancellationRequested)
        {
            // The period is over.
        }
    }

    private async Task PassAsync()
    {
        IReadOnlyList<ShardInfo>? listed = null;
        if (_listNow || _lastListing is not { } last || _time.GetElapsedTime(last) >= _options.ShardRefreshInterval)
        {
            _listNow = false;
            try
            {
                listed = await _directory.RefreshAsync(Cancellation).ConfigureAwait(false);
                _lastListing = _time.GetTimestamp();
            }
            catch (Exception exception) when (_directory.IsListed && !Cancellation.IsCancellationRequested)
            {
                // Kinesis is unreachable: keep the leases (renewed below) on the last listing, and list again next pass.
                LogListingFailed(Logger, exception, _provider);
            }
        }

        if (await Leases.BalanceAsync(listed, Cancellation).ConfigureAwait(false))
        {
            Notify();
        }
    }

    /// <summary>
    /// Tells the pulling manager without waiting for it: it starts and stops agents, and a stopping
    /// agent's receiver checkpoints through <see cref="Leases"/>, which must not wait for this pass.
    /// </summary>
    internal void Notify() => _ = NotifyListeners().ContinueWith(
        t => LogNotifyFailed(Logger, t.Exception!, _provider), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private bool IsDeclaredDead(string owner)
    {
        var silo = _owners.GetOrAdd(owner, static text =>
        {
            // Owners are silo addresses; anything else (a row written by another tool) just expires by time.
            try
            {
                return SiloAddress.FromParsableString(text);
            }
            catch (FormatException)
            {
                return null;
            }
        });
        return silo is not null && _membership.CurrentSnapshot.GetSiloStatus(silo) == SiloStatus.Dead;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kinesis provider {Provider}: a lease balancing pass failed; the next one retries")]
    private static partial void LogPassFailed(ILogger logger, Exception exception, string provider);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kinesis provider {Provider}: listing the shards failed; the last listing stands until the next pass")]
    private static partial void LogListingFailed(ILogger logger, Exception exception, string provider);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kinesis provider {Provider}: telling the pulling agents of a lease change failed")]
    private static partial void LogNotifyFailed(ILogger logger, Exception exception, string provider);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kinesis provider {Provider}: releasing the leases on stop failed; they expire instead")]
    private static partial void LogReleaseFailed(ILogger logger, Exception exception, string provider);
}
