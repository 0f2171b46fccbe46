using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// Accepts connections on one endpoint, runs TLS (if configured) and the handshake on each within
/// HandshakeTimeout, and serves the ones that pass with one request handler. A peer that fails the
/// handshake or sends garbage loses only its own socket. Disposal stops listening (the port is
/// released), drops handshakes in progress and closes every accepted connection.
/// </summary>
public sealed partial class FrameListener : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly FrameNetworkOptions _options;
    private readonly FrameRequestHandler _handler;
    private readonly Action<FrameConnection>? _onAccepted;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<FrameConnection, byte> _connections = new();
    private readonly ConcurrentDictionary<Task, byte> _handshakes = new();
    private Task _acceptLoop = Task.CompletedTask;
    private int _disposed;

    private FrameListener(Socket socket, FrameNetworkOptions options, FrameRequestHandler handler, Action<FrameConnection>? onAccepted, ILogger logger)
    {
        _socket = socket;
        _options = options;
        _handler = handler;
        _onAccepted = onAccepted;
        _logger = logger;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    /// <summary>The bound endpoint (the real port when started on port 0).</summary>
    public IPEndPoint LocalEndPoint { get; }

    public IReadOnlyCollection<FrameConnection> Connections => (IReadOnlyCollection<FrameConnection>)_connections.Keys;

    /// <summary>
    /// Binds and starts accepting. <paramref name="onAccepted"/> sees each connection once its
    /// handshake passed (it must not block).
    /// </summary>
    public static FrameListener Start(IPEndPoint endpoint, FrameNetworkOptions options, FrameRequestHandler handler, Action<FrameConnection>? onAccepted = null, ILogger? logger = null)
    {
        options.ThrowIfInvalid();
        if (options.ClusterSecret is null)
        {
            // Deliberately loud: server-only TLS does not authenticate the connector, so without a
            // secret anyone who reaches the port can call grains.
            LogUnauthenticated(logger ?? NullLogger.Instance, endpoint);
        }

        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var listener = new FrameListener(socket, options, handler, onAccepted, logger ?? NullLogger.Instance);
        listener._acceptLoop = listener.AcceptLoopAsync();
        return listener;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        // Handshakes end promptly on the cancellation; any that passed have added their connection by then.
        await Task.WhenAll(_handshakes.Keys).ConfigureAwait(false);
        var connections = _connections.Keys.ToList();
        await Task.WhenAll(connections.Select(connection => connection.DisposeAsync().AsTask())).ConfigureAwait(false);
        // Their removal runs as a continuation that may not have run yet; once disposed, none is listed.
        foreach (var connection in connections)
        {
            _connections.TryRemove(connection, out _);
        }
    }

    /// <summary>Stops listening and drops every connection at once, as a crash would: no goodbyes.</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stopping.Cancel();
        _socket.Dispose();
        foreach (var connection in _connections.Keys)
        {
            connection.Abort();
        }
    }

    private async Task AcceptLoopAsync()
    {
        await Task.Yield();
        while (!_stopping.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await _socket.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException exception)
            {
                // A connection reset before it was accepted, or out of descriptors: keep listening.
                LogAcceptFailed(_logger, exception, LocalEndPoint);
                continue;
            }

            var handshake = AcceptOneAsync(accepted);
            _handshakes.TryAdd(handshake, 0);
            _ = handshake.ContinueWith(static (task, state) => ((ConcurrentDictionary<Task, byte>)state!).TryRemove(task, out _),
                _handshakes, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Never throws: a failed handshake only costs its own socket.</summary>
    private async Task AcceptOneAsync(Socket socket)
    {
        var remote = socket.RemoteEndPoint;
        FrameTransport? transport = null;
        var handedOff = false;
        try
        {
            using var timeout = new CancellationTokenSource(_options.HandshakeTimeout, _options.TimeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopping.Token);
            // Closing the socket on cancellation unblocks anything that does not watch the token.
            using (linked.Token.UnsafeRegister(static state => ((Socket)state!).Dispose(), socket))
            {
                transport = await FrameTransport.CreateAsync(socket, accepting: true, _options, linked.Token).ConfigureAwait(false);
                await FrameHandshake.AcceptAsync(transport, _options, linked.Token).ConfigureAwait(false);
            }

            linked.Token.ThrowIfCancellationRequested();
            var connection = new FrameConnection(transport, _options, _handler, _logger);
            transport = null;
            handedOff = true;
            _connections.TryAdd(connection, 0);
            _ = connection.Completion.ContinueWith(static (completed, state) =>
            {
                var (connections, connection) = ((ConcurrentDictionary<FrameConnection, byte>, FrameConnection))state!;
                connections.TryRemove(connection, out _);
            }, (_connections, connection), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

            if (_stopping.IsCancellationRequested)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                return;
            }

            LogAccepted(_logger, remote, connection.IsTls);
            _onAccepted?.Invoke(connection);
        }
        catch (Exception exception)
        {
            if (!_stopping.IsCancellationRequested)
            {
                LogHandshakeFailed(_logger, remote, exception.GetType().Name, exception.Message);
            }
        }
        finally
        {
            // Once handed to a connection the socket is the connection's; until then it is ours.
            if (!handedOff)
            {
                transport?.Dispose();
                socket.Dispose();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening on {Endpoint} without a cluster secret: anyone who reaches it can connect (tests and development only)")]
    private static partial void LogUnauthenticated(ILogger logger, IPEndPoint endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Accepting a connection on {Endpoint} failed")]
    private static partial void LogAcceptFailed(ILogger logger, Exception exception, IPEndPoint endpoint);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Accepted a connection from {Remote} (TLS: {Tls})")]
    private static partial void LogAccepted(ILogger logger, EndPoint? remote, bool tls);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Handshake with {Remote} failed: {Error}: {Reason}")]
    private static partial void LogHandshakeFailed(ILogger logger, EndPoint? remote, string error, string reason);
}
