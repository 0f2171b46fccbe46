using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// Answers a request that arrived on a connection. Runs on the connection's read loop until its
/// first await, so it must not block; the token is cancelled when the connection closes.
/// A thrown exception is sent back to the caller as an Error frame (type name and message).
/// </summary>
public delegate ValueTask<ReadOnlyMemory<byte>> FrameRequestHandler(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);

/// <summary>
/// One authenticated connection carrying many concurrent requests in both directions, each frame
/// tagged with a correlation id. One read loop dispatches incoming frames; one write loop drains a
/// bounded queue, so frames from concurrent senders never interleave and a slow peer slows the
/// senders instead of growing memory. When the connection closes, for whatever reason, every
/// request still waiting fails at once with <see cref="ConnectionLostException"/>.
/// </summary>
public sealed partial class FrameConnection : IAsyncDisposable
{
    private const int FlushThreshold = 64 * 1024;
    private const int MaxErrorMessageChars = 16 * 1024;

    private readonly FrameTransport _transport;
    private readonly FrameNetworkOptions _options;
    private readonly FrameRequestHandler? _handler;
    private readonly ILogger _logger;
    private readonly PendingRequests _pending;
    private readonly Channel<Outgoing> _outgoing;
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private readonly Task _writeLoop;
    private readonly Task _readLoop;
    private long _nextCorrelationId;
    private volatile Exception? _closeReason;

    internal FrameConnection(FrameTransport transport, FrameNetworkOptions options, FrameRequestHandler? handler, ILogger? logger)
    {
        _transport = transport;
        _options = options;
        _handler = handler;
        _logger = logger ?? NullLogger.Instance;
        _pending = new PendingRequests(options.TimeProvider);
        _outgoing = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(options.SendQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        // The writer first: a read loop that fails at once (bytes read ahead during the handshake) closes through it.
        _writeLoop = WriteLoopAsync();
        _readLoop = ReadLoopAsync();
    }

    public EndPoint? RemoteEndPoint => _transport.RemoteEndPoint;

    public bool IsTls => _transport.IsTls;

    /// <summary>Completes (never faults) once the connection is closed and its socket released.</summary>
    public Task Completion => _closed.Task;

    /// <summary>Why the connection closed (null while open): a <see cref="ConnectionLostException"/> or a protocol error.</summary>
    public Exception? CloseReason => _closeReason;

    public int PendingRequests => _pending.Count;

    /// <summary>
    /// Sends a request and waits for its response payload. The payload memory must not change until
    /// the returned task completes. Throws <see cref="RemoteRequestException"/> if the peer's handler
    /// failed, <see cref="ConnectionLostException"/> if the connection closes first, and
    /// <see cref="FrameTooLargeException"/> (connection unaffected) if the payload is over the maximum.
    /// </summary>
    /// <param name="timeout">Fail with <see cref="TimeoutException"/> if no response came within this (checked about once a second).</param>
    public async Task<ReadOnlyMemory<byte>> SendRequestAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default, TimeSpan? timeout = null)
    {
        if (payload.Length > _options.MaxFrameSize)
        {
            throw new FrameTooLargeException($"A request of {payload.Length} bytes exceeds the maximum frame size of {_options.MaxFrameSize} bytes.");
        }

        var id = Interlocked.Increment(ref _nextCorrelationId);
        var response = _pending.Add(id, timeout);
        // Registered before this check, so a concurrent close either sees the entry or we see the reason.
        if (_closeReason is { } reason)
        {
            _pending.TryRemove(id, out _);
            throw Lost(reason);
        }

        try
        {
            await _outgoing.Writer.WriteAsync(new Outgoing(FrameKind.Request, id, payload, response), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is ChannelClosedException or OperationCanceledException)
        {
            _pending.TryRemove(id, out _);
            cancellationToken.ThrowIfCancellationRequested();
            throw Lost(_closeReason ?? exception);
        }

        await using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (connection, id) = ((FrameConnection, long))state!;
                if (connection._pending.TryRemove(id, out var pending))
                {
                    pending.TrySetCanceled(token);
                }
            }, (this, id))
            : default;
        return await response.Task.ConfigureAwait(false);
    }

    /// <summary>Closes gracefully: queued frames and a goodbye are written (up to CloseTimeout), then the socket is closed.</summary>
    public async ValueTask DisposeAsync()
    {
        BeginClose(new ConnectionLostException("The connection was closed locally."), "The peer closed the connection.");
        await _closed.Task.ConfigureAwait(false);
        await Task.WhenAll(_readLoop, _writeLoop).ConfigureAwait(false);
    }

    /// <summary>Drops the connection at once, as a crash would: nothing more is written.</summary>
    public void Abort() => BeginClose(new ConnectionLostException("The connection was aborted locally."), goodbye: null);

    private async Task ReadLoopAsync()
    {
        await Task.Yield();
        var input = _transport.Input;
        Exception? reason = null;
        string? goodbye = null;
        try
        {
            while (reason is null)
            {
                var result = await input.ReadAsync(_closing.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    while (reason is null && FrameCodec.TryRead(ref buffer, _options.MaxFrameSize, out var header, out var payload))
                    {
                        reason = Dispatch(header, payload);
                    }

                    if (reason is null && result.IsCompleted)
                    {
                        reason = buffer.IsEmpty
                            ? new ConnectionLostException($"{RemoteEndPoint} closed the connection.")
                            : FrameCodec.Truncated(buffer.Length);
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        catch (FrameProtocolException exception)
        {
            reason = exception;
            goodbye = $"Protocol error: {exception.Message}";
        }
        catch (Exception exception)
        {
            reason = _closeReason ?? new ConnectionLostException($"The connection to {RemoteEndPoint} failed: {exception.Message}", exception);
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
        }

        if (reason is FrameProtocolException)
        {
            LogProtocolError(_logger, RemoteEndPoint, reason.Message);
        }

        BeginClose(reason, goodbye);
    }

    /// <summary>Handles one frame; returns a close reason to stop reading.</summary>
    private Exception? Dispatch(FrameHeader header, ReadOnlySequence<byte> payload)
    {
        switch (header.Kind)
        {
            case FrameKind.Request:
                // Copied: the handler outlives the pipe's buffer.
                _ = HandleRequestAsync(header.CorrelationId, payload.ToArray());
                return null;
            case FrameKind.Response:
                if (_pending.TryRemove(header.CorrelationId, out var pending))
                {
                    pending.TrySetResult(payload.ToArray());
                }

                return null;
            case FrameKind.Error:
                if (_pending.TryRemove(header.CorrelationId, out pending))
                {
                    pending.TrySetException(DecodeError(payload));
                }

                return null;
            case FrameKind.Goodbye:
                return new ConnectionLostException($"{RemoteEndPoint} closed the connection: {Encoding.UTF8.GetString(payload)}");
            default:
                throw new FrameProtocolException($"Unexpected {header.Kind} frame after the handshake.");
        }
    }

    private async Task HandleRequestAsync(long id, ReadOnlyMemory<byte> payload)
    {
        Outgoing reply;
        try
        {
            var response = _handler is null
                ? throw new InvalidOperationException("This side of the connection does not accept requests.")
                : await _handler(payload, _closing.Token).ConfigureAwait(false);
            reply = response.Length <= _options.MaxFrameSize
                ? new Outgoing(FrameKind.Response, id, response, null)
                : EncodeError(id, nameof(FrameTooLargeException), $"The response of {response.Length} bytes exceeds the maximum frame size of {_options.MaxFrameSize} bytes.");
        }
        catch (Exception exception)
        {
            if (_closeReason is not null)
            {
                return;
            }

            reply = EncodeError(id, exception.GetType().FullName ?? exception.GetType().Name, exception.Message);
        }

        try
        {
            await _outgoing.Writer.WriteAsync(reply, _closing.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Closed meanwhile; the caller's side fails its pending request on its own.
        }
    }

    private async Task WriteLoopAsync()
    {
        var output = _transport.Output;
        var reader = _outgoing.Reader;
        Exception? failure = null;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (!_closing.IsCancellationRequested && reader.TryRead(out var frame))
                {
                    // A request whose caller gave up (cancelled, or the connection is closing) is not worth sending.
                    if (frame.Response?.Task.IsCompleted == true)
                    {
                        continue;
                    }

                    FrameCodec.Write(output, frame.Kind, frame.CorrelationId, frame.Payload.Span);
                    if (output.UnflushedBytes >= FlushThreshold)
                    {
                        await output.FlushAsync(_closing.Token).ConfigureAwait(false);
                    }
                }

                // Flushed only when the queue is momentarily empty, so bursts of small frames share syscalls.
                await output.FlushAsync(_closing.Token).ConfigureAwait(false);
            }
        }
        catch (Exception exception)
        {
            failure = exception;
        }
        finally
        {
            // With an exception, Complete does not try a last (blocking) write to a peer that may not read.
            await output.CompleteAsync(failure ?? new ConnectionLostException("closed")).ConfigureAwait(false);
        }

        if (failure is not null)
        {
            BeginClose(_closeReason ?? new ConnectionLostException($"Writing to {RemoteEndPoint} failed: {failure.Message}", failure), goodbye: null);
        }
    }

    private void BeginClose(Exception reason, string? goodbye)
    {
        lock (_gate)
        {
            if (_closeReason is not null)
            {
                return;
            }

            _closeReason = reason;
        }

        _ = ShutdownAsync(reason, goodbye);
    }

    private async Task ShutdownAsync(Exception reason, string? goodbye)
    {
        try
        {
            LogClosed(_logger, RemoteEndPoint, _pending.Count, reason.Message);
            foreach (var id in _pending.Ids)
            {
                if (_pending.TryRemove(id, out var pending))
                {
                    pending.TrySetException(Lost(reason));
                }
            }

            if (goodbye is not null)
            {
                _outgoing.Writer.TryWrite(new Outgoing(FrameKind.Goodbye, 0, Encoding.UTF8.GetBytes(goodbye), null));
            }

            _outgoing.Writer.TryComplete();
            if (goodbye is not null)
            {
                // Bounded: a peer that stopped reading must not hold the close up.
                await _writeLoop.WaitAsync(_options.CloseTimeout, _options.TimeProvider).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await _closing.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            LogShutdownFailed(_logger, exception, RemoteEndPoint);
        }
        finally
        {
            _pending.Dispose();
            _transport.Dispose();
            _closed.TrySetResult();
        }
    }

    private ConnectionLostException Lost(Exception reason) =>
        new(reason is ConnectionLostException ? reason.Message : $"The connection to {RemoteEndPoint} was lost: {reason.Message}", reason);

    // Error payload: remote type (u16 length + UTF-8), then the message (UTF-8, the rest).
    private static Outgoing EncodeError(long id, string type, string message)
    {
        if (message.Length > MaxErrorMessageChars)
        {
            message = message[..MaxErrorMessageChars];
        }

        var typeBytes = Encoding.UTF8.GetBytes(type.Length > 1024 ? type[..1024] : type);
        var bytes = new byte[2 + typeBytes.Length + Encoding.UTF8.GetByteCount(message)];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)typeBytes.Length);
        typeBytes.CopyTo(bytes, 2);
        Encoding.UTF8.GetBytes(message, bytes.AsSpan(2 + typeBytes.Length));
        return new Outgoing(FrameKind.Error, id, bytes, null);
    }

    private static RemoteRequestException DecodeError(ReadOnlySequence<byte> payload)
    {
        var bytes = payload.ToArray().AsSpan();
        var typeLength = bytes.Length < 2 ? int.MaxValue : BinaryPrimitives.ReadUInt16LittleEndian(bytes);
        if (bytes.Length < 2 + (long)typeLength)
        {
            return new RemoteRequestException("unknown", "The peer sent a malformed error frame.");
        }

        return new RemoteRequestException(Encoding.UTF8.GetString(bytes.Slice(2, typeLength)), Encoding.UTF8.GetString(bytes[(2 + typeLength)..]));
    }

    /// <summary>A frame to write. Response is the caller's pending request, for requests only.</summary>
    private readonly record struct Outgoing(FrameKind Kind, long CorrelationId, ReadOnlyMemory<byte> Payload, PendingRequest? Response);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Protocol error on the connection with {Remote}: {Reason}")]
    private static partial void LogProtocolError(ILogger logger, EndPoint? remote, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection with {Remote} closed with {Pending} requests pending: {Reason}")]
    private static partial void LogClosed(ILogger logger, EndPoint? remote, int pending, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Closing the connection with {Remote} failed")]
    private static partial void LogShutdownFailed(ILogger logger, Exception exception, EndPoint? remote);
}
