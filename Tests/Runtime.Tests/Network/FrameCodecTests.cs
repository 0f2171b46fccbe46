using System.Buffers;
using System.IO.Pipelines;
using Analytics.Runtime.Messaging.Network;

namespace Analytics.Runtime.Tests.Network;

public sealed class FrameCodecTests
{
    [Fact]
    public async Task A_frame_round_trips_even_when_it_arrives_one_byte_at_a_time()
    {
        var encoded = new Pipe();
        var payload = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        FrameCodec.Write(encoded.Writer, FrameKind.Request, 0x0102030405060708, payload);
        await encoded.Writer.FlushAsync();
        var read = await encoded.Reader.ReadAsync();
        var bytes = read.Buffer.ToArray();
        Assert.Equal(FrameCodec.HeaderSize + payload.Length, bytes.Length);
        Assert.Equal(new byte[] { 44, 1, 0, 0, (byte)FrameKind.Request, 8, 7, 6, 5, 4, 3, 2, 1 }, bytes[..FrameCodec.HeaderSize]);

        var pipe = new Pipe();
        var writing = Task.Run(async () =>
        {
            foreach (var b in bytes)
            {
                await pipe.Writer.WriteAsync(new byte[] { b });
            }

            await pipe.Writer.CompleteAsync();
        });

        var frame = await FrameCodec.ReadOneAsync(pipe.Reader, 1024, default);
        Assert.NotNull(frame);
        Assert.Equal(FrameKind.Request, frame.Value.Header.Kind);
        Assert.Equal(0x0102030405060708, frame.Value.Header.CorrelationId);
        Assert.Equal(payload, frame.Value.Payload);
        Assert.Null(await FrameCodec.ReadOneAsync(pipe.Reader, 1024, default));
        await writing;
    }

    [Fact]
    public async Task A_stream_that_ends_mid_frame_is_a_protocol_error()
    {
        var pipe = new Pipe();
        FrameCodec.Write(pipe.Writer, FrameKind.Response, 1, new byte[100]);
        var whole = (await FlushAndRead(pipe)).ToArray();
        var truncated = new Pipe();
        await truncated.Writer.WriteAsync(whole.AsMemory(0, 50));
        await truncated.Writer.CompleteAsync();

        await Assert.ThrowsAsync<FrameProtocolException>(async () => await FrameCodec.ReadOneAsync(truncated.Reader, 1024, default));
    }

    [Fact]
    public async Task An_oversized_length_is_rejected_from_the_header_alone()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x01, 0x10, 0x00, 0x00, (byte)FrameKind.Request, 0, 0, 0, 0, 0, 0, 0, 0 });

        var error = await Assert.ThrowsAsync<FrameTooLargeException>(async () => await FrameCodec.ReadOneAsync(pipe.Reader, 4096, default));
        Assert.Contains("4097", error.Message);
    }

    [Fact]
    public async Task An_unknown_frame_kind_is_a_protocol_error()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0, 0, 0, 0, 0xEE, 0, 0, 0, 0, 0, 0, 0, 0 });

        await Assert.ThrowsAsync<FrameProtocolException>(async () => await FrameCodec.ReadOneAsync(pipe.Reader, 4096, default));
    }

    [Fact]
    public void Options_validation_names_the_problem()
    {
        Assert.Null(new FrameNetworkOptions().Validate());
        Assert.Contains("ClusterSecret", new FrameNetworkOptions { ClusterSecret = "short" }.Validate());
        Assert.Contains("MaxFrameSize", new FrameNetworkOptions { MaxFrameSize = 10 }.Validate());
        Assert.Contains("ClusterId", new FrameNetworkOptions { ClusterId = "" }.Validate());
        Assert.Contains("HandshakeTimeout", new FrameNetworkOptions { HandshakeTimeout = TimeSpan.Zero }.Validate());
    }

    private static async Task<System.Buffers.ReadOnlySequence<byte>> FlushAndRead(Pipe pipe)
    {
        await pipe.Writer.FlushAsync();
        return (await pipe.Reader.ReadAsync()).Buffer;
    }
}
