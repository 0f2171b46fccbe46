using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>Opens connections to a <see cref="FrameListener"/>.</summary>
public static class FrameConnector
{
    /// <summary>
    /// Connects, negotiates TLS if <see cref="FrameNetworkOptions.ClientTls"/> is set, and runs the
    /// handshake, all within HandshakeTimeout. Throws <see cref="SocketException"/> if nothing
    /// listens there, <see cref="ClusterAuthenticationException"/> if the acceptor refuses us (or
    /// cannot prove the secret), <see cref="TimeoutException"/> on timeout. <paramref name="handler"/>
    /// answers requests the acceptor sends back on this connection (null: they get an error).
    /// </summary>
    public static async Task<FrameConnection> ConnectAsync(EndPoint endpoint, FrameNetworkOptions options, FrameRequestHandler? handler = null, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        options.ThrowIfInvalid();
        using var timeout = new CancellationTokenSource(options.HandshakeTimeout, options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        FrameTransport? transport = null;
        var handedOff = false;
        try
        {
            using (linked.Token.UnsafeRegister(static state => ((Socket)state!).Dispose(), socket))
            {
                await socket.ConnectAsync(endpoint, linked.Token).ConfigureAwait(false);
                transport = await FrameTransport.CreateAsync(socket, accepting: false, options, linked.Token).ConfigureAwait(false);
                await FrameHandshake.ConnectAsync(transport, options, linked.Token).ConfigureAwait(false);
            }

            linked.Token.ThrowIfCancellationRequested();
            var connection = new FrameConnection(transport, options, handler, logger);
            transport = null;
            handedOff = true;
            return connection;
        }
        catch (Exception exception) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Connecting to {endpoint} did not complete within {options.HandshakeTimeout}.", exception);
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException && exception is not FrameProtocolException && exception is not ConnectionLostException)
        {
            throw new ConnectionLostException($"The connection to {endpoint} failed during the handshake: {exception.Message}", exception);
        }
        finally
        {
            // Once handed to a connection the socket is the connection's; until then it is ours.
            if (transport is not null)
            {
                transport.Dispose();
                socket.Dispose();
            }
            else if (!handedOff)
            {
                socket.Dispose();
            }
        }
    }
}
