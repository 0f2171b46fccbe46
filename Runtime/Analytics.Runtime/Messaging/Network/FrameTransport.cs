using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// A connected socket as a duplex pipe, TLS already negotiated if configured. The handshake and
/// then the <see cref="FrameConnection"/> use the same pipes, so nothing read ahead is lost.
/// </summary>
internal sealed class FrameTransport : IDisposable
{
    private const int ReadBufferSize = 64 * 1024;

    private readonly Stream _stream;

    private FrameTransport(Stream stream, EndPoint? remote)
    {
        _stream = stream;
        RemoteEndPoint = remote;
        // leaveOpen: the transport disposes the stream itself, from any thread, to abort pending I/O;
        // the pipes are completed by their own loops.
        Input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: ReadBufferSize, minimumReadSize: 4096, leaveOpen: true));
        Output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public EndPoint? RemoteEndPoint { get; }

    public bool IsTls => _stream is SslStream;

    public static async Task<FrameTransport> CreateAsync(Socket socket, bool accepting, FrameNetworkOptions options, CancellationToken cancellationToken)
    {
        socket.NoDelay = true;
        var remote = socket.RemoteEndPoint;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            if (accepting && options.ServerTls is { } serverTls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsServerAsync(serverTls, cancellationToken).ConfigureAwait(false);
            }
            else if (!accepting && options.ClientTls is { } clientTls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(clientTls, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new FrameTransport(stream, remote);
    }

    /// <summary>Closes the socket; pending reads and writes on it fail at once. Safe to call repeatedly and concurrently.</summary>
    public void Dispose()
    {
        try
        {
            _stream.Dispose();
        }
        catch (Exception)
        {
            // A TLS close-notify that cannot be sent on a broken socket: the socket is closed regardless.
        }
    }
}
