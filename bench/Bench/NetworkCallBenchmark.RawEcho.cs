using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Messaging;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Placement;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Bench;

/// <summary>The baseline: a raw TCP echo server and its ping-pong and multiplexed clients.</summary>
public static partial class NetworkCallBenchmark
{
    // ---- The raw TCP echo -----------------------------------------------------------------------

    /// <summary>
    /// Echoes every frame back with the same correlation id. Frames of one read are answered inline
    /// and flushed together: the least a server on these sockets and pipes can do per message.
    /// </summary>
    private sealed class EchoServer : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly ConcurrentBag<Socket> _accepted = [];
        private readonly Task _acceptLoop;

        private EchoServer(Socket listener)
        {
            _listener = listener;
            EndPoint = (IPEndPoint)listener.LocalEndPoint!;
            _acceptLoop = AcceptLoopAsync();
        }

        public IPEndPoint EndPoint { get; }

        public static EchoServer Start()
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(16);
            return new EchoServer(listener);
        }

        private async Task AcceptLoopAsync()
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptAsync();
                }
                catch (Exception)
                {
                    return;
                }

                socket.NoDelay = true;
                _accepted.Add(socket);
                _ = Task.Run(() => ServeAsync(socket));
            }
        }

        private static async Task ServeAsync(Socket socket)
        {
            var stream = new NetworkStream(socket, ownsSocket: true);
            var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
            var output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
            try
            {
                while (true)
                {
                    var result = await input.ReadAsync();
                    var buffer = result.Buffer;
                    while (FrameCodec.TryRead(ref buffer, FrameNetworkOptions.DefaultMaxFrameSize, out var header, out var payload))
                    {
                        FrameCodec.Write(output, FrameKind.Response, header.CorrelationId, payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray());
                    }

                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (output.UnflushedBytes > 0)
                    {
                        await output.FlushAsync();
                    }

                    if (result.IsCompleted)
                    {
                        return;
                    }
                }
            }
            catch (Exception)
            {
                // The client went away, or the server is being disposed.
            }
            finally
            {
                await input.CompleteAsync();
                await output.CompleteAsync();
                await stream.DisposeAsync();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            await _acceptLoop;
            foreach (var socket in _accepted)
            {
                socket.Dispose();
            }
        }
    }

    /// <summary>One message at a time: send the frame, receive the whole echo.</summary>
    private sealed class PingPongClient : IDisposable
    {
        private readonly Socket _socket;
        private readonly byte[] _frame;
        private readonly byte[] _received;

        private PingPongClient(Socket socket, byte[] payload)
        {
            _socket = socket;
            var writer = new ArrayBufferWriter<byte>();
            FrameCodec.Write(writer, FrameKind.Request, 1, payload);
            _frame = writer.WrittenSpan.ToArray();
            _received = new byte[_frame.Length];
        }

        public static async Task<PingPongClient> ConnectAsync(IPEndPoint server, byte[] payload)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server);
            return new PingPongClient(socket, payload);
        }

        public async Task RoundTripAsync()
        {
            await _socket.SendAsync(_frame, SocketFlags.None);
            var received = 0;
            while (received < _received.Length)
            {
                var n = await _socket.ReceiveAsync(_received.AsMemory(received), SocketFlags.None);
                received += n > 0 ? n : throw new IOException("The echo server closed the connection.");
            }
        }

        public void Dispose() => _socket.Dispose();
    }

    /// <summary>
    /// Many messages outstanding on one connection, as <see cref="FrameConnection"/> carries them:
    /// a correlation id and a completion source (continuations asynchronous) per message, one
    /// write loop draining a channel and flushing when it is empty, one read loop completing them.
    /// </summary>
    private sealed class MuxEchoClient : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly PipeReader _input;
        private readonly PipeWriter _output;
        private readonly ConcurrentDictionary<long, TaskCompletionSource<byte[]>> _pending = new();
        private readonly Channel<(long Id, byte[] Payload)> _outgoing = Channel.CreateUnbounded<(long, byte[])>(new UnboundedChannelOptions { SingleReader = true });
        private readonly Task _readLoop;
        private readonly Task _writeLoop;
        private long _nextId;

        private MuxEchoClient(Socket socket)
        {
            _socket = socket;
            _stream = new NetworkStream(socket, ownsSocket: true);
            _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
            _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
            _writeLoop = WriteLoopAsync();
            _readLoop = ReadLoopAsync();
        }

        public static async Task<MuxEchoClient> ConnectAsync(IPEndPoint server)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server);
            return new MuxEchoClient(socket);
        }

        public Task<byte[]> SendAsync(byte[] payload)
        {
            var id = Interlocked.Increment(ref _nextId);
            var response = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[id] = response;
            if (!_outgoing.Writer.TryWrite((id, payload)))
            {
                _pending.TryRemove(id, out _);
                response.SetException(new IOException("The echo client is closed."));
            }

            return response.Task;
        }

        private async Task WriteLoopAsync()
        {
            await Task.Yield();
            var reader = _outgoing.Reader;
            try
            {
                while (await reader.WaitToReadAsync())
                {
                    while (reader.TryRead(out var message))
                    {
                        FrameCodec.Write(_output, FrameKind.Request, message.Id, message.Payload);
                    }

                    await _output.FlushAsync();
                }
            }
            catch (Exception)
            {
                // Closed.
            }
            finally
            {
                await _output.CompleteAsync();
            }
        }

        private async Task ReadLoopAsync()
        {
            await Task.Yield();
            try
            {
                while (true)
                {
                    var result = await _input.ReadAsync();
                    var buffer = result.Buffer;
                    while (FrameCodec.TryRead(ref buffer, FrameNetworkOptions.DefaultMaxFrameSize, out var header, out var payload))
                    {
                        if (_pending.TryRemove(header.CorrelationId, out var response))
                        {
                            response.TrySetResult(payload.ToArray());
                        }
                    }

                    _input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
            }
            catch (Exception)
            {
                // Closed.
            }
            finally
            {
                await _input.CompleteAsync();
                foreach (var id in _pending.Keys)
                {
                    if (_pending.TryRemove(id, out var response))
                    {
                        response.TrySetException(new IOException("The echo connection closed."));
                    }
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _outgoing.Writer.TryComplete();
            await _writeLoop;
            _socket.Shutdown(SocketShutdown.Both);
            await _stream.DisposeAsync();
            await _readLoop;
        }
    }
}
