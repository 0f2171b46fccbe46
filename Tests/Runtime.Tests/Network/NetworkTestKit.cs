using System.Net;
using System.Net.Sockets;
using Analytics.Runtime.Messaging.Network;

namespace Analytics.Runtime.Tests.Network;

/// <summary>Loopback listener plus helpers shared by the network tests.</summary>
internal static class NetworkTestKit
{
    /// <summary>Guards against hangs only; never a timing assertion.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(15);

    public const string Secret = "correct horse battery staple";

    public static IPEndPoint AnyLoopback => new(IPAddress.Loopback, 0);

    public static FrameNetworkOptions Options(string? secret = null, string cluster = "test-cluster") =>
        new() { ClusterId = cluster, ClusterSecret = secret };

    public static ValueTask<ReadOnlyMemory<byte>> Echo(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken) =>
        ValueTask.FromResult(payload);

    /// <summary>Reads from a raw socket until the server closes it; false if it is still open after the guard.</summary>
    public static async Task<bool> WaitUntilClosedAsync(Socket socket)
    {
        using var guard = new CancellationTokenSource(HangGuard);
        var buffer = new byte[4096];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, guard.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException)
        {
            return true; // reset: closed as well
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}

/// <summary>A listener that records the server side of each accepted connection.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly TaskCompletionSource<FrameConnection> _firstAccepted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TestServer(FrameNetworkOptions options, FrameRequestHandler? handler = null)
    {
        Options = options;
        Listener = FrameListener.Start(NetworkTestKit.AnyLoopback, options, handler ?? NetworkTestKit.Echo, connection => _firstAccepted.TrySetResult(connection));
    }

    public FrameNetworkOptions Options { get; }

    public FrameListener Listener { get; }

    public IPEndPoint EndPoint => Listener.LocalEndPoint;

    public Task<FrameConnection> FirstAccepted => _firstAccepted.Task.WaitAsync(NetworkTestKit.HangGuard);

    public Task<FrameConnection> ConnectAsync(FrameNetworkOptions? options = null, FrameRequestHandler? handler = null) =>
        FrameConnector.ConnectAsync(EndPoint, options ?? Options, handler).WaitAsync(NetworkTestKit.HangGuard);

    public ValueTask DisposeAsync() => Listener.DisposeAsync();
}
