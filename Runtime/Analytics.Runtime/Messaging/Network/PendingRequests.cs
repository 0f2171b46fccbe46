using System.Collections.Concurrent;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>A request sent on a connection and not yet answered; completes with the response payload.</summary>
internal sealed class PendingRequest(long deadline) : TaskCompletionSource<ReadOnlyMemory<byte>>(TaskCreationOptions.RunContinuationsAsynchronously)
{
    /// <summary>The timestamp (TimeProvider ticks) after which the request fails with a timeout; long.MaxValue for none.</summary>
    public long Deadline { get; } = deadline;
}

/// <summary>
/// The requests of one connection that await a response, by correlation id. Response timeouts are
/// enforced here by one coarse sweep per connection rather than a timer per call: a timer per
/// call cost about a tenth of a cross-silo call's time (see PERFORMANCE.md, network calls), and a
/// 30 s timeout does not need millisecond precision.
/// </summary>
internal sealed class PendingRequests(TimeProvider timeProvider) : IDisposable
{
    private static readonly TimeSpan MaxSweepPeriod = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<long, PendingRequest> _entries = new();
    private readonly Lock _gate = new();
    private ITimer? _sweep;
    private bool _disposed;

    public int Count => _entries.Count;

    public ICollection<long> Ids => _entries.Keys;

    public PendingRequest Add(long id, TimeSpan? timeout)
    {
        var deadline = timeout is { } limit ? timeProvider.GetTimestamp() + (long)(limit.TotalSeconds * timeProvider.TimestampFrequency) : long.MaxValue;
        var request = new PendingRequest(deadline);
        _entries[id] = request;
        if (timeout is { } t && _sweep is null)
        {
            StartSweep(t);
        }

        return request;
    }

    public bool TryRemove(long id, out PendingRequest request) => _entries.TryRemove(id, out request!);

    private void StartSweep(TimeSpan timeout)
    {
        lock (_gate)
        {
            if (_sweep is null && !_disposed)
            {
                var period = timeout / 4 < MaxSweepPeriod ? timeout / 4 : MaxSweepPeriod;
                _sweep = timeProvider.CreateTimer(static state => ((PendingRequests)state!).Sweep(), this, period, period);
            }
        }
    }

    private void Sweep()
    {
        var now = timeProvider.GetTimestamp();
        foreach (var (id, request) in _entries)
        {
            if (request.Deadline <= now && _entries.TryRemove(id, out _))
            {
                request.TrySetException(new TimeoutException("No response arrived within the response timeout."));
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _sweep?.Dispose();
        }
    }
}
