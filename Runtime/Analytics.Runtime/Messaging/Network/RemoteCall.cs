using System.Text.Json;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Messaging.Serialization;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// The two halves of a grain call over a <see cref="FrameConnection"/>, shared by silo-to-silo
/// calls and by clients calling gateways: sending a request and awaiting its typed result, and
/// answering one.
/// </summary>
internal static class RemoteCall
{
    /// <summary>
    /// Sends the call once the connection is open. Failures reach <paramref name="mapFailure"/> as a
    /// <see cref="PeerUnreachableException"/> when the call never left (no connection), or as
    /// <see cref="ConnectionLostException"/> when it left and the connection then closed.
    /// </summary>
    public static Task Send(Task<FrameConnection> connection, GrainId grainId, GrainInvokable request, int hopCount, long targetGeneration, TimeSpan? timeout, Func<Exception, Exception> mapFailure) =>
        TryEncode(grainId, request, hopCount, targetGeneration, out var failed) is { } payload
            ? request.ReceiveResponse(SendFrameAsync(connection, payload, timeout: timeout), mapFailure)
            : failed;

    /// <summary>
    /// The request's bytes; or null, with <paramref name="failed"/> the caller's faulted task, when
    /// its arguments cannot be serialized (nothing is sent then).
    /// </summary>
    public static byte[]? TryEncode(GrainId grainId, GrainInvokable request, int hopCount, long targetGeneration, out Task failed)
    {
        try
        {
            failed = Task.CompletedTask;
            return MessageCodec.EncodeRequest(grainId, request, hopCount, targetGeneration);
        }
        catch (Exception exception) when (exception is JsonException or NotSupportedException or OverflowException or InvalidOperationException)
        {
            failed = request.FromException(new WireFormatException($"The arguments of {request.Method} for grain {grainId} cannot be sent to another process: {exception.Message}", exception));
            return null;
        }
    }

    public static async Task<ReadOnlyMemory<byte>> PingAsync(Task<FrameConnection> connection, long targetGeneration, CancellationToken cancellationToken) =>
        await SendFrameAsync(connection, MessageCodec.EncodePing(targetGeneration), cancellationToken).ConfigureAwait(false);

    /// <summary>Decodes a request, runs it, and encodes its outcome; a request that cannot be read fails the frame (an Error frame).</summary>
    public static async ValueTask<ReadOnlyMemory<byte>> AnswerAsync(ReadOnlyMemory<byte> payload, Func<IncomingRequest, Task> run)
    {
        var incoming = MessageCodec.DecodeRequest(payload.Span);
        Task outcome;
        try
        {
            outcome = run(incoming);
            await outcome.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        catch (Exception exception)
        {
            outcome = Task.FromException(exception);
        }

        return MessageCodec.EncodeResponse(incoming.Request, outcome);
    }

    private static async Task<ReadOnlyMemory<byte>> SendFrameAsync(Task<FrameConnection> connecting, byte[] payload, CancellationToken cancellationToken = default, TimeSpan? timeout = null)
    {
        FrameConnection connection;
        try
        {
            connection = await connecting.ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            throw new PeerUnreachableException(exception.Message, exception);
        }

        return await connection.SendRequestAsync(payload, cancellationToken, timeout).ConfigureAwait(false);
    }
}

/// <summary>No connection to the peer could be opened, so nothing was sent.</summary>
internal sealed class PeerUnreachableException(string message, Exception inner) : Exception(message, inner);
