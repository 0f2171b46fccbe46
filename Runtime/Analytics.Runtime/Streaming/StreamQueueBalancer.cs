using Analytics.Runtime.Hosting;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Placement;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Streaming;

/// <summary>
/// Runs one pulling agent per queue this silo owns. Ownership comes from rendezvous hashing of the
/// queue over the active silos, so it moves with the membership view; the queue list is re-read
/// periodically so that new Kinesis shards get an agent. Agents stop gracefully (flush and
/// checkpoint) when their queue moves away or the silo stops.
/// </summary>
internal sealed partial class StreamQueueBalancer(
    StreamProviderRuntime provider,
    IMembershipViewProvider membership,
    IGrainCallInvoker invoker,
    ILoggerFactory loggerFactory) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<StreamQueueBalancer>();
    private readonly Dictionary<QueueId, (PullingAgent Agent, Task Run, CancellationTokenSource Stop)> _agents = [];
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private IDisposable? _subscription;
    private Task? _refreshLoop;
    private IReadOnlyList<QueueId> _queues = [];

    public string ProviderName => provider.Name;

    public IReadOnlyList<(QueueId Queue, QueueAgentStatistics Statistics)> Agents
    {
        get
        {
            lock (_agents)
            {
                return _agents.Values.Select(a => (a.Agent.Queue, a.Agent.Statistics)).ToList();
            }
        }
    }

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe($"{nameof(StreamQueueBalancer)}({provider.Name})", ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        // Subscribe first, so that a view change during the first rebalance is not missed.
        _subscription = membership.Subscribe(view => _ = RebalanceAsync(refreshQueues: false));
        await RebalanceAsync(refreshQueues: true);
        _refreshLoop = Task.Run(async () =>
        {
            while (!_stopping.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(provider.Options.QueueRefreshInterval, provider.TimeProvider, _stopping.Token);
                    await RebalanceAsync(refreshQueues: true);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception exception)
                {
                    LogRebalanceFailed(exception, provider.Name);
                }
            }
        });
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        _subscription?.Dispose();
        await _lock.WaitAsync(CancellationToken.None);
        try
        {
            await StopAgentsAsync(_agents.Keys.ToList());
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

    /// <summary>Simulates a crash (test clusters): agents stop at once, with no flush and no checkpoint.</summary>
    internal void Kill()
    {
        _stopping.Cancel();
        _subscription?.Dispose();
        lock (_agents)
        {
            foreach (var (agent, _, stop) in _agents.Values)
            {
                agent.Kill();
                stop.Cancel();
            }
        }
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
            await StopAgentsAsync(_agents.Keys.Where(q => !owned.Contains(q)).ToList());
            foreach (var queue in owned.Where(q => !_agents.ContainsKey(q)))
            {
                var agent = new PullingAgent(queue, provider, invoker.References, loggerFactory.CreateLogger<PullingAgent>());
                var stop = new CancellationTokenSource();
                var run = Task.Run(() => agent.RunAsync(stop.Token));
                lock (_agents)
                {
                    _agents[queue] = (agent, run, stop);
                }
            }

            LogOwnership(provider.Name, owned.Count, _queues.Count);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task StopAgentsAsync(IReadOnlyList<QueueId> queues)
    {
        var stopping = new List<Task>();
        foreach (var queue in queues)
        {
            var (_, run, stop) = _agents[queue];
            stop.Cancel();
            stopping.Add(run.ContinueWith(t =>
            {
                if (t.Exception is { } error)
                {
                    LogAgentFailed(error.InnerException ?? error, queue);
                }
            }, TaskScheduler.Default));
            lock (_agents)
            {
                _agents.Remove(queue);
            }
        }

        await Task.WhenAll(stopping);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stream provider {Provider}: this silo reads {Owned} of {Total} queues")]
    private partial void LogOwnership(string provider, int owned, int total);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stream provider {Provider}: rebalancing failed")]
    private partial void LogRebalanceFailed(Exception exception, string provider);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pulling agent for {Queue} failed")]
    private partial void LogAgentFailed(Exception exception, QueueId queue);
}
