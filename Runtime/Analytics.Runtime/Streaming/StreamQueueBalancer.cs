using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Placement;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Streaming;

/// <summary>Decides which of a provider's queues this silo reads, and runs their pulling agents.</summary>
internal interface IQueueBalancer : ILifecycleParticipant<ISiloLifecycle>
{
    IReadOnlyList<(QueueId Queue, QueueAgentStatistics Statistics)> Agents { get; }

    /// <summary>Simulates a crash (test clusters): agents stop at once, with no flush, checkpoint or release.</summary>
    void Kill();
}

/// <summary>
/// Balances by rendezvous hashing of each queue over the active silos, so ownership moves with the
/// membership view (Orleans' consistent-ring balancer plays this part). Fits queues that are fixed
/// partitions with their checkpoints in shared storage; the queue list is still re-read
/// periodically. Agents stop gracefully (flush and checkpoint) when their queue moves away or the
/// silo stops. Kinesis uses <see cref="Leases.LeaseQueueBalancer"/> instead.
/// </summary>
internal sealed partial class StreamQueueBalancer(
    StreamProviderRuntime provider,
    PullingAgentSet agents,
    IMembershipViewProvider membership,
    ILogger<StreamQueueBalancer> logger) : IQueueBalancer
{
    private readonly ILogger _logger = logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private IDisposable? _subscription;
    private Task? _refreshLoop;
    private IReadOnlyList<QueueId> _queues = [];

    public IReadOnlyList<(QueueId Queue, QueueAgentStatistics Statistics)> Agents => agents.Statistics;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe($"{nameof(StreamQueueBalancer)}({provider.Name})", ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        // Subscribe first, so that a view change during the first rebalance is not missed.
        _subscription = membership.Subscribe(view => _ = RebalanceAsync(refreshQueues: false));
        await RebalanceAsync(refreshQueues: true);
        _refreshLoop = PeriodicLoop.Run(provider.Options.QueueRefreshInterval, provider.TimeProvider, _stopping.Token,
            () => RebalanceAsync(refreshQueues: true), exception => LogRebalanceFailed(exception, provider.Name));
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        _subscription?.Dispose();
        await _lock.WaitAsync(CancellationToken.None);
        try
        {
            await agents.StopAllAsync();
        }
        finally
        {
            _lock.Release();
        }

        if (_refreshLoop is not null)
        {
            await _refreshLoop;
        }
    }

    public void Kill()
    {
        _stopping.Cancel();
        _subscription?.Dispose();
        agents.KillAll();
    }

    private async Task RebalanceAsync(bool refreshQueues)
    {
        await _lock.WaitAsync(CancellationToken.None);
        try
        {
            if (_stopping.IsCancellationRequested)
            {
                return;
            }

            if (refreshQueues)
            {
                _queues = await provider.Adapter.GetQueuesAsync(_stopping.Token);
            }

            var view = membership.Current;
            var owned = view.IsActive(membership.LocalSilo)
                ? _queues.Where(q => RendezvousHashing.PickOwner(q.StableHash, view.ActiveSilos) == membership.LocalSilo).ToHashSet()
                : [];
            agents.CollectFinished();
            await agents.StopAsync(agents.Queues.Where(q => !owned.Contains(q)));
            foreach (var queue in owned.Where(q => !agents.Contains(q)))
            {
                agents.Start(queue, provider.Checkpointer);
            }

            LogOwnership(provider.Name, owned.Count, _queues.Count);
        }
        finally
        {
            _lock.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stream provider {Provider}: this silo reads {Owned} of {Total} queues")]
    private partial void LogOwnership(string provider, int owned, int total);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stream provider {Provider}: rebalancing failed")]
    private partial void LogRebalanceFailed(Exception exception, string provider);
}

/// <summary>Runs an action every interval until cancelled; a failed run is reported and the loop goes on.</summary>
internal static class PeriodicLoop
{
    public static Task Run(TimeSpan interval, TimeProvider time, CancellationToken stopping, Func<Task> action, Action<Exception> onFailure) =>
        Task.Run(async () =>
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(interval, time, stopping);
                    await action();
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception exception)
                {
                    onFailure(exception);
                }
            }
        });
}
