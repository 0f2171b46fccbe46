using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Analytics.Bench;

/// <summary>The baseline: a raw TCP echo server and its ping-pong and multiplexed clients.</summary>
public static partial class NetworkCallBenchmark
{
    // ---- The raw TCP echo -----------------------------------------------------------------------

    /// <summary>
    /// A frame is an 8-byte prefix (payload length, correlation id; Orleans' own frame prefix is 8
    /// bytes too: header and body lengths) and the payload. The payloads are as long as the
    /// Orleans messages of the grain call, measured in the same run.
    /// </summary>
    private static class RawFrame
    {
        public const int PrefixSize = 8;

        public static void Write(IBufferWriter<byte> writer, int correlationId, int payloadLength)
        {
            var span = writer.GetSpan(PrefixSize + payloadLength);
            BinaryPrimitives.WriteInt32LittleEndian(span, payloadLength);
            BinaryPrimitives.WriteInt32LittleEndian(span[4..], correlationId);
            // The payload's bytes are whatever the buffer holds: the echo moves bytes, it does not read them.
            writer.Advance(PrefixSize + payloadLength);
        }

        public static bool TryRead(ref ReadOnlySequence<byte> buffer, out int correlationId)
        {
            correlationId = 0;
            if (buffer.Length < PrefixSize)
            {
                return false;
            }

            Span<byte> prefix = stackalloc byte[PrefixSize];
            buffer.Slice(0, PrefixSize).CopyTo(prefix);
            var length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
            if (buffer.Length < PrefixSize + length)
            {
                return false;
            }

            correlationId = BinaryPrimitives.ReadInt32LittleEndian(prefix[4..]);
            buffer = buffer.Slice(PrefixSize + length);
            return true;
        }
    }

    /// <summary>
    /// Answers every request frame with a response frame of <c>responseLength</c> payload bytes
    /// and the same correlation id. Frames of one read are answered inline and flushed together:
    /// the least a server on these sockets and pipes can do per message.
    /// </summary>
    private sealed class EchoServer : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly int _responseLength;
        private readonly ConcurrentBag<Socket> _accepted = [];
        private readonly Task _acceptLoop;

        private EchoServer(Socket listener, int responseLength)
        {
            _listener = listener;
            _responseLength = responseLength;
            EndPoint = (IPEndPoint)listener.LocalEndPoint!;
            _acceptLoop = AcceptLoopAsync();
        }

        public IPEndPoint EndPoint { get; }

        public static EchoServer Start(int responseLength)
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(16);
            return new EchoServer(listener, responseLength);
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
                _ = Task.Run(() => ServeAsync(socket, _responseLength));
            }
        }

        private static async Task ServeAsync(Socket socket, int responseLength)
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
                    while (RawFrame.TryRead(ref buffer, out var id))
                    {
                        RawFrame.Write(output, id, responseLength);
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

    /// <summary>One message at a time: send the frame, receive the whole answer.</summary>
    private sealed class PingPongClient : IDisposable
    {
        private readonly Socket _socket;
        private readonly byte[] _frame;
        private readonly byte[] _received;

        private PingPongClient(Socket socket, int requestLength, int responseLength)
        {
            _socket = socket;
            var writer = new ArrayBufferWriter<byte>();
            RawFrame.Write(writer, 1, requestLength);
            _frame = writer.WrittenSpan.ToArray();
            _received = new byte[RawFrame.PrefixSize + responseLength];
        }

        public static async Task<PingPongClient> ConnectAsync(IPEndPoint server, int requestLength, int responseLength)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server);
            return new PingPongClient(socket, requestLength, responseLength);
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
    /// Many messages outstanding on one connection, the way a silo's connection carries calls: a
    /// correlation id and a completion source (continuations asynchronous) per message, one write
    /// loop draining a channel and flushing when it is empty, one read loop completing them.
    /// </summary>
    private sealed class MuxEchoClient : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly NetworkStream _stream;
        private readonly PipeReader _input;
        private readonly PipeWriter _output;
        private readonly int _requestLength;
        private readonly ConcurrentDictionary<int, TaskCompletionSource> _pending = new();
        private readonly Channel<int> _outgoing = Channel.CreateUnbounded<int>(new UnboundedChannelOptions { SingleReader = true });
        private readonly Task _readLoop;
        private readonly Task _writeLoop;
        private int _nextId;

        private MuxEchoClient(Socket socket, int requestLength)
        {
            _socket = socket;
            _requestLength = requestLength;
            _stream = new NetworkStream(socket, ownsSocket: true);
            _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
            _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
            _writeLoop = WriteLoopAsync();
            _readLoop = ReadLoopAsync();
        }

        public static async Task<MuxEchoClient> ConnectAsync(IPEndPoint server, int requestLength)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server);
            return new MuxEchoClient(socket, requestLength);
        }

        public Task SendAsync()
        {
            var id = Interlocked.Increment(ref _nextId);
            var response = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[id] = response;
            if (!_outgoing.Writer.TryWrite(id))
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
                    while (reader.TryRead(out var id))
                    {
                        RawFrame.Write(_output, id, _requestLength);
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
                    while (RawFrame.TryRead(ref buffer, out var id))
                    {
                        if (_pending.TryRemove(id, out var response))
                        {
                            response.TrySetResult();
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
