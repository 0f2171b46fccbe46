using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Analytics.Runtime.Messaging.Network;
using static Analytics.Runtime.Tests.Network.NetworkTestKit;

namespace Analytics.Runtime.Tests.Network;

public sealed class FrameConnectionTests
{
    [Fact]
    public async Task One_request_round_trips()
    {
        await using var server = new TestServer(Options(), (payload, _) =>
            ValueTask.FromResult<ReadOnlyMemory<byte>>(Encoding.UTF8.GetBytes("hello " + Encoding.UTF8.GetString(payload.Span))));
        await using var client = await server.ConnectAsync();

        var response = await client.SendRequestAsync("world"u8.ToArray()).WaitAsync(HangGuard);

        Assert.Equal("hello world", Encoding.UTF8.GetString(response.Span));
        Assert.False(client.IsTls);
    }

    [Fact]
    public async Task Ten_thousand_concurrent_requests_on_one_connection_each_get_their_own_response()
    {
        const int count = 10_000;
        await using var server = new TestServer(Options(), async (payload, _) =>
        {
            var n = BinaryPrimitives.ReadInt32LittleEndian(payload.Span);
            if (n % 3 == 0)
            {
                await Task.Yield(); // answers complete out of order
            }

            var reply = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(reply, n * 7L + 1);
            return reply;
        });
        await using var client = await server.ConnectAsync();

        var calls = Enumerable.Range(0, count).Select(async n =>
        {
            var payload = new byte[4 + n % 50];
            BinaryPrimitives.WriteInt32LittleEndian(payload, n);
            var reply = await client.SendRequestAsync(payload);
            return (n, BinaryPrimitives.ReadInt64LittleEndian(reply.Span));
        }).ToArray();
        var results = await Task.WhenAll(calls).WaitAsync(HangGuard);

        Assert.All(results, result => Assert.Equal(result.n * 7L + 1, result.Item2));
        Assert.Equal(0, client.PendingRequests);
    }

    [Fact]
    public async Task A_payload_of_exactly_the_maximum_frame_size_round_trips()
    {
        var options = Options();
        await using var server = new TestServer(options);
        await using var client = await server.ConnectAsync();
        var payload = new byte[options.MaxFrameSize];
        new Random(42).NextBytes(payload);

        var response = await client.SendRequestAsync(payload).WaitAsync(HangGuard);

        Assert.True(response.Span.SequenceEqual(payload));
    }

    [Fact]
    public async Task An_over_maximum_request_is_refused_locally_and_the_connection_stays_usable()
    {
        var options = Options();
        options.MaxFrameSize = 64 * 1024;
        await using var server = new TestServer(options);
        await using var client = await server.ConnectAsync();

        var error = await Assert.ThrowsAsync<FrameTooLargeException>(() => client.SendRequestAsync(new byte[options.MaxFrameSize + 1]));

        Assert.Contains("exceeds the maximum frame size", error.Message);
        Assert.Equal(3, (await client.SendRequestAsync(new byte[3]).WaitAsync(HangGuard)).Length);
    }

    [Fact]
    public async Task An_over_maximum_frame_from_the_peer_closes_the_connection_with_a_clear_reason()
    {
        var serverOptions = Options();
        serverOptions.MaxFrameSize = 64 * 1024;
        await using var server = new TestServer(serverOptions);
        var clientOptions = Options();
        clientOptions.MaxFrameSize = 1024 * 1024; // a peer configured with a larger limit
        await using var client = await server.ConnectAsync(clientOptions);
        var serverSide = await server.FirstAccepted;

        await Assert.ThrowsAsync<ConnectionLostException>(() => client.SendRequestAsync(new byte[128 * 1024]).WaitAsync(HangGuard));

        await serverSide.Completion.WaitAsync(HangGuard);
        var reason = Assert.IsType<FrameTooLargeException>(serverSide.CloseReason);
        Assert.Contains("exceeds the maximum frame size of 65536", reason.Message);
        await client.Completion.WaitAsync(HangGuard);
        await Assert.ThrowsAsync<ConnectionLostException>(() => client.SendRequestAsync(new byte[1]));
    }

    [Theory]
    [InlineData("474554202F20485454502F312E310D0A486F73743A206C6F63616C686F73740D0A0D0A")] // an HTTP request
    [InlineData("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")]
    [InlineData("05000000EE000000000000000068656C6C6F")] // well-formed header, unknown kind
    public async Task Garbage_from_a_raw_socket_closes_that_socket_and_the_listener_keeps_serving(string garbage)
    {
        await using var server = new TestServer(Options());
        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(server.EndPoint);

        await raw.SendAsync(Convert.FromHexString(garbage));

        Assert.True(await WaitUntilClosedAsync(raw));
        await using var client = await server.ConnectAsync();
        Assert.Equal(2, (await client.SendRequestAsync(new byte[2]).WaitAsync(HangGuard)).Length);
    }

    [Fact]
    public async Task A_silent_raw_socket_is_dropped_after_the_handshake_timeout()
    {
        var options = Options();
        options.HandshakeTimeout = TimeSpan.FromMilliseconds(200);
        await using var server = new TestServer(options);
        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(server.EndPoint);

        Assert.True(await WaitUntilClosedAsync(raw));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task When_the_peer_goes_away_mid_call_every_pending_request_fails_with_connection_lost(bool abort)
    {
        const int count = 200;
        var received = 0;
        var allReceived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TestServer(Options(), async (_, cancellationToken) =>
        {
            if (Interlocked.Increment(ref received) == count)
            {
                allReceived.TrySetResult();
            }

            await Task.Delay(Timeout.Infinite, cancellationToken);
            return ReadOnlyMemory<byte>.Empty;
        });
        await using var client = await server.ConnectAsync();
        var serverSide = await server.FirstAccepted;
        var calls = Enumerable.Range(0, count).Select(_ => client.SendRequestAsync(new byte[16])).ToArray();
        await allReceived.Task.WaitAsync(HangGuard);

        if (abort)
        {
            serverSide.Abort();
        }
        else
        {
            await serverSide.DisposeAsync();
        }

        foreach (var call in calls)
        {
            await Assert.ThrowsAsync<ConnectionLostException>(() => call.WaitAsync(HangGuard));
        }

        await client.Completion.WaitAsync(HangGuard);
        Assert.IsType<ConnectionLostException>(client.CloseReason);
        await Assert.ThrowsAsync<ConnectionLostException>(() => client.SendRequestAsync(new byte[1]));
    }

    [Fact]
    public async Task A_throwing_handler_gives_the_caller_an_error_with_its_message_and_the_connection_lives_on()
    {
        await using var server = new TestServer(Options(), (payload, _) =>
            payload.Length == 0 ? throw new InvalidOperationException("the handler says no") : ValueTask.FromResult(payload));
        await using var client = await server.ConnectAsync();

        var error = await Assert.ThrowsAsync<RemoteRequestException>(() => client.SendRequestAsync(ReadOnlyMemory<byte>.Empty).WaitAsync(HangGuard));

        Assert.Equal("the handler says no", error.Message);
        Assert.Equal(typeof(InvalidOperationException).FullName, error.RemoteType);
        Assert.Equal(1, (await client.SendRequestAsync(new byte[1]).WaitAsync(HangGuard)).Length);
    }

    [Fact]
    public async Task The_acceptor_can_call_back_over_the_same_connection()
    {
        await using var server = new TestServer(Options());
        await using var client = await server.ConnectAsync(handler: (payload, _) =>
            ValueTask.FromResult<ReadOnlyMemory<byte>>(payload.ToArray().Reverse().ToArray()));
        var serverSide = await server.FirstAccepted;

        var reply = await serverSide.SendRequestAsync(new byte[] { 1, 2, 3 }).WaitAsync(HangGuard);

        Assert.Equal(new byte[] { 3, 2, 1 }, reply.ToArray());
    }

    [Fact]
    public async Task A_cancelled_request_completes_as_cancelled_and_the_connection_lives_on()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TestServer(Options(), async (payload, _) =>
        {
            if (payload.Length == 0)
            {
                await release.Task;
            }

            return payload;
        });
        await using var client = await server.ConnectAsync();
        using var cancel = new CancellationTokenSource();

        var call = client.SendRequestAsync(ReadOnlyMemory<byte>.Empty, cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(HangGuard));
        release.TrySetResult(); // its late response is ignored
        Assert.Equal(5, (await client.SendRequestAsync(new byte[5]).WaitAsync(HangGuard)).Length);
    }

    [Fact]
    public async Task Disposing_the_listener_closes_its_connections_and_releases_the_port()
    {
        var server = new TestServer(Options());
        var endpoint = server.EndPoint;
        await using var client = await server.ConnectAsync();
        await server.FirstAccepted;

        await server.DisposeAsync().AsTask().WaitAsync(HangGuard);

        await client.Completion.WaitAsync(HangGuard);
        await Assert.ThrowsAsync<ConnectionLostException>(() => client.SendRequestAsync(new byte[1]));
        Assert.Empty(server.Listener.Connections);
        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(async () => await raw.ConnectAsync(endpoint));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        await Assert.ThrowsAsync<SocketException>(() => FrameConnector.ConnectAsync(endpoint, Options()));
    }
}
