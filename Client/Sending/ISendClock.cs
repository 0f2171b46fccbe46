using System.Diagnostics;

namespace Analytics.Client.Sending;

/// <summary>
/// The time a sender paces itself by: elapsed time for the rate, wall-clock time for event
/// timestamps. Tests replace it to check the pacing without waiting.
/// </summary>
public interface ISendClock
{
    /// <summary>Time since the clock started (monotonic).</summary>
    TimeSpan Elapsed { get; }

    /// <summary>Now, in Unix epoch milliseconds (UTC), for event timestamps.</summary>
    long UtcNowMs { get; }

    /// <summary>Waits <paramref name="delay"/> of this clock's time.</summary>
    Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken);
}

/// <summary>The real clock: a <see cref="Stopwatch"/> and <see cref="Task.Delay(TimeSpan, CancellationToken)"/>.</summary>
public sealed class SystemSendClock : ISendClock
{
    private readonly long _start = Stopwatch.GetTimestamp();

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_start);

    public long UtcNowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) => Task.Delay(delay, cancellationToken);
}

/// <summary>
/// A clock that only moves when waited on: <see cref="DelayAsync"/> advances it at once. A run
/// paced by it takes no wall time and is fully deterministic.
/// </summary>
public sealed class ManualSendClock : ISendClock
{
    private readonly Lock _lock = new();
    private TimeSpan _elapsed;

    public ManualSendClock(long startUtcMs = 1_795_000_000_000)
    {
        StartUtcMs = startUtcMs;
    }

    public long StartUtcMs { get; }

    public TimeSpan Elapsed
    {
        get
        {
            lock (_lock)
            {
                return _elapsed;
            }
        }
    }

    public long UtcNowMs => StartUtcMs + (long)Elapsed.TotalMilliseconds;

    public void Advance(TimeSpan by)
    {
        lock (_lock)
        {
            _elapsed += by;
        }
    }

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Advance(delay);
        return Task.CompletedTask;
    }
}
