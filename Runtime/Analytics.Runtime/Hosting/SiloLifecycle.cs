using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Hosting;

/// <summary>Lifecycle stages, in start order; stop runs them in reverse. The numbers follow Orleans.</summary>
public static class ServiceLifecycleStage
{
    public const int First = int.MinValue;
    public const int RuntimeInitialize = 2000;
    public const int RuntimeServices = 4000;
    public const int RuntimeStorage = 6000;
    public const int RuntimeGrainServices = 8000;
    public const int ApplicationServices = 10000;
    public const int BecomeActive = 19999;
    public const int Active = 20000;
    public const int Last = int.MaxValue;
}

public interface ISiloLifecycle
{
    /// <summary>Registers work to run when the silo reaches a stage on start, and leaves it on stop.</summary>
    void Subscribe(string observerName, int stage, Func<CancellationToken, Task> onStart, Func<CancellationToken, Task>? onStop = null);
}

/// <summary>Implemented by services that start and stop with the silo.</summary>
public interface ILifecycleParticipant<in TLifecycle>
{
    void Participate(TLifecycle lifecycle);
}

/// <summary>Runs the observers stage by stage: all observers of one stage in parallel, stages in order.</summary>
internal sealed partial class SiloLifecycleSubject(ILogger<SiloLifecycleSubject> logger) : ISiloLifecycle
{
    private readonly List<(string Name, int Stage, Func<CancellationToken, Task> OnStart, Func<CancellationToken, Task>? OnStop)> _observers = [];
    private int _highestStarted = int.MinValue;
    private bool _anyStarted;

    public void Subscribe(string observerName, int stage, Func<CancellationToken, Task> onStart, Func<CancellationToken, Task>? onStop = null) =>
        _observers.Add((observerName, stage, onStart, onStop));

    public async Task OnStartAsync(CancellationToken cancellationToken)
    {
        foreach (var stage in _observers.GroupBy(o => o.Stage).OrderBy(g => g.Key))
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            _anyStarted = true;
            _highestStarted = stage.Key;
            await Task.WhenAll(stage.Select(o => o.OnStart(cancellationToken)));
            LogStageStarted(stage.Key, string.Join(", ", stage.Select(o => o.Name)), System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    public async Task OnStopAsync(CancellationToken cancellationToken)
    {
        if (!_anyStarted)
        {
            return;
        }

        foreach (var stage in _observers.Where(o => o.Stage <= _highestStarted && o.OnStop is not null).GroupBy(o => o.Stage).OrderByDescending(g => g.Key))
        {
            foreach (var observer in stage)
            {
                try
                {
                    // Stopping goes on through errors: a failed observer must not keep the others from flushing.
                    await observer.OnStop!(cancellationToken);
                }
                catch (Exception exception)
                {
                    LogStopFailed(exception, observer.Name, stage.Key);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Lifecycle stage {Stage} started ({Observers}) in {ElapsedMs:0.0} ms")]
    private partial void LogStageStarted(int stage, string observers, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Error, Message = "Lifecycle observer {Observer} failed to stop at stage {Stage}")]
    private partial void LogStopFailed(Exception exception, string observer, int stage);
}
