using System.Collections.Concurrent;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// One connection per peer, opened on first use and shared by every call to that peer (calls are
/// multiplexed on it). A connection that closed, or an attempt that failed, is forgotten, so the
/// next call connects afresh; a failed attempt is not retried within the same call.
/// </summary>
internal sealed class ConnectionPool<TKey>(Func<TKey, CancellationToken, Task<FrameConnection>> connect) : IAsyncDisposable
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Task<FrameConnection>> _connections = new();
    private readonly CancellationTokenSource _disposed = new();

    public Task<FrameConnection> GetAsync(TKey peer)
    {
        while (true)
        {
            if (_connections.TryGetValue(peer, out var existing))
            {
                if (!existing.IsCompleted || (existing.IsCompletedSuccessfully && existing.Result.CloseReason is null))
                {
                    return existing;
                }

                _connections.TryRemove(KeyValuePair.Create(peer, existing));
                if (!existing.IsCompletedSuccessfully)
                {
                    continue;
                }
            }

            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            var attempt = new TaskCompletionSource<FrameConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_connections.TryAdd(peer, attempt.Task))
            {
                continue;
            }

            _ = ConnectAsync(peer, attempt);
            return attempt.Task;
        }
    }

    /// <summary>Drops the peer's connection at once (it was declared dead): calls pending on it fail.</summary>
    public void Abort(TKey peer)
    {
        if (_connections.TryRemove(peer, out var connection) && connection.IsCompletedSuccessfully)
        {
            connection.Result.Abort();
        }
    }

    public IEnumerable<TKey> Peers => _connections.Keys;

    public int Count => _connections.Count;

    private async Task ConnectAsync(TKey peer, TaskCompletionSource<FrameConnection> attempt)
    {
        try
        {
            var connection = await connect(peer, _disposed.Token).ConfigureAwait(false);
            attempt.SetResult(connection);
            _ = connection.Completion.ContinueWith(
                _ => _connections.TryRemove(KeyValuePair.Create(peer, attempt.Task)), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        catch (Exception exception)
        {
            _connections.TryRemove(KeyValuePair.Create(peer, attempt.Task));
            attempt.SetException(exception);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync().ConfigureAwait(false);
        var all = _connections.Values.ToList();
        _connections.Clear();
        foreach (var pending in all)
        {
            try
            {
                await (await pending.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // A connection that never opened has nothing to close.
            }
        }
    }
}
