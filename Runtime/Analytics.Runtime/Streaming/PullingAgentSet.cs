using Analytics.Runtime.Invocation;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Streaming;

/// <summary>
/// The pulling agents one silo runs for one provider, whichever balancer decides which queues
/// those are: starting an agent, stopping agents gracefully (they flush and checkpoint), and
/// killing them (a simulated crash, or a lease that another silo took).
/// </summary>
internal sealed partial class PullingAgentSet(StreamProviderRuntime provider, IGrainCallInvoker invoker, ILoggerFactory loggerFactory)
{
    private readonly Dictionary<QueueId, RunningAgent> _agents = [];
    private readonly ILogger _logger = loggerFactory.CreateLogger<PullingAgentSet>();

    public IReadOnlyList<(QueueId Queue, QueueAgentStatistics Statistics)> Statistics
    {
        get
        {
            lock (_agents)
            {
                return _agents.Values.Select(a => (a.Agent.Queue, a.Agent.Statistics)).ToList();
            }
        }
    }

    public IReadOnlyList<QueueId> Queues
    {
        get
        {
            lock (_agents)
            {
                return _agents.Keys.ToList();
            }
        }
    }

    public bool Contains(QueueId queue)
    {
        lock (_agents)
        {
            return _agents.ContainsKey(queue);
        }
    }

    public void Start(QueueId queue, IStreamCheckpointer checkpointer)
    {
        var agent = new PullingAgent(queue, provider, checkpointer, invoker.References, loggerFactory.CreateLogger<PullingAgent>());
        var stop = new CancellationTokenSource();
        var run = Task.Run(() => agent.RunAsync(stop.Token));
        lock (_agents)
        {
            _agents.Add(queue, new RunningAgent(agent, run, stop));
        }
    }

    /// <summary>Removes the agents that have finished on their own (a queue read to its end, or a failure), with whether each reached the end.</summary>
    public IReadOnlyList<(QueueId Queue, bool ReachedEnd)> CollectFinished()
    {
        lock (_agents)
        {
            var finished = _agents.Where(a => a.Value.Run.IsCompleted).ToList();
            foreach (var (queue, running) in finished)
            {
                _agents.Remove(queue);
                if (running.Run.Exception is { } error)
                {
                    LogAgentFailed(error.InnerException ?? error, queue);
                }
            }

            return finished.Select(a => (a.Key, a.Value.Agent.ReachedEnd)).ToList();
        }
    }

    /// <summary>Stops agents gracefully: each flushes its grains and leaves a checkpoint.</summary>
    public async Task StopAsync(IEnumerable<QueueId> queues)
    {
        var stopping = new List<Task>();
        foreach (var queue in queues.ToList())
        {
            RunningAgent? running;
            lock (_agents)
            {
                if (!_agents.Remove(queue, out running))
                {
                    continue;
                }
            }

            running.Stop.Cancel();
            stopping.Add(running.Run.ContinueWith(t =>
            {
                if (t.Exception is { } error)
                {
                    LogAgentFailed(error.InnerException ?? error, queue);
                }
            }, TaskScheduler.Default));
        }

        await Task.WhenAll(stopping);
    }

    public Task StopAllAsync() => StopAsync(Queues);

    /// <summary>Stops one agent at once, without a flush or a checkpoint: its lease is gone, so it must not write one.</summary>
    public void Kill(QueueId queue)
    {
        lock (_agents)
        {
            if (_agents.Remove(queue, out var running))
            {
                running.Agent.Kill();
                running.Stop.Cancel();
            }
        }
    }

    /// <summary>Simulates a crash: every agent stops at once, with no flush and no checkpoint.</summary>
    public void KillAll()
    {
        foreach (var queue in Queues)
        {
            Kill(queue);
        }
    }

    private sealed record RunningAgent(PullingAgent Agent, Task Run, CancellationTokenSource Stop);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pulling agent for {Queue} failed")]
    private partial void LogAgentFailed(Exception exception, QueueId queue);
}
