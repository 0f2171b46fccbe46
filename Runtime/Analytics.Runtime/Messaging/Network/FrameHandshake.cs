using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// The first frames of a connection. The acceptor speaks first with a Challenge carrying a fresh
/// random nonce; the connector answers Hello with its own nonce and HMAC-SHA256(secret, "connector"
/// label, both nonces, cluster id); the acceptor checks it and answers Welcome with its own HMAC
/// under a different label, so each side proves the secret to the other without sending it, and
/// neither proof can be replayed on another connection or reflected back. Otherwise the acceptor
/// sends Refused with a reason and closes.
/// </summary>
internal static class FrameHandshake
{
    public const ushort ProtocolVersion = 1;

    /// <summary>Handshake frames are tiny; an unauthenticated peer must not make us buffer a full-size frame.</summary>
    public const int MaxHandshakeFrame = 1024;

    private const int NonceSize = 32;
    private const byte RefusedAuthentication = 1;
    private const byte RefusedVersion = 2;
    private static readonly byte[] ConnectorLabel = "analytics-frames/v1/connector"u8.ToArray();
    private static readonly byte[] AcceptorLabel = "analytics-frames/v1/acceptor"u8.ToArray();

    public static async Task AcceptAsync(FrameTransport transport, FrameNetworkOptions options, CancellationToken cancellationToken)
    {
        var acceptorNonce = RandomNumberGenerator.GetBytes(NonceSize);
        await SendAsync(transport, FrameKind.Challenge, Encode(ProtocolVersion, options.ClusterId, acceptorNonce, []), cancellationToken).ConfigureAwait(false);

        var (kind, payload) = await ReceiveAsync(transport, cancellationToken).ConfigureAwait(false);
        if (kind != FrameKind.Hello)
        {
            throw new FrameProtocolException($"Expected a Hello frame from the connector, got {kind}.");
        }

        var hello = Decode(payload);
        var secret = Key(options);
        var (code, refusal) =
            hello.Version != ProtocolVersion ? (RefusedVersion, $"Protocol version {hello.Version} is not supported; this side speaks {ProtocolVersion}.")
            : !string.Equals(hello.ClusterId, options.ClusterId, StringComparison.Ordinal) ? (RefusedAuthentication, $"Cluster id '{hello.ClusterId}' does not match the acceptor's cluster.")
            : secret is null && hello.Proof.Length > 0 ? (RefusedAuthentication, "The connector presented a cluster secret but the acceptor has none configured.")
            : secret is not null && hello.Proof.Length == 0 ? (RefusedAuthentication, "The acceptor requires a cluster secret and the connector presented none.")
            : secret is not null && !CryptographicOperations.FixedTimeEquals(hello.Proof, Proof(secret, ConnectorLabel, acceptorNonce, hello.Nonce, options.ClusterId)) ? (RefusedAuthentication, "The cluster secret does not match.")
            : ((byte)0, (string?)null);

        if (refusal is not null)
        {
            await SendAsync(transport, FrameKind.Refused, [code, .. Encoding.UTF8.GetBytes(refusal)], cancellationToken).ConfigureAwait(false);
            throw code == RefusedVersion ? new FrameProtocolException(refusal) : new ClusterAuthenticationException(refusal);
        }

        var proof = secret is null ? [] : Proof(secret, AcceptorLabel, acceptorNonce, hello.Nonce, options.ClusterId);
        await SendAsync(transport, FrameKind.Welcome, proof, cancellationToken).ConfigureAwait(false);
    }

    public static async Task ConnectAsync(FrameTransport transport, FrameNetworkOptions options, CancellationToken cancellationToken)
    {
        var (kind, payload) = await ReceiveAsync(transport, cancellationToken).ConfigureAwait(false);
        if (kind != FrameKind.Challenge)
        {
            throw new FrameProtocolException($"Expected a Challenge frame from the acceptor, got {kind}.");
        }

        var challenge = Decode(payload);
        if (challenge.Version != ProtocolVersion)
        {
            throw new FrameProtocolException($"The acceptor speaks protocol version {challenge.Version}; this side speaks {ProtocolVersion}.");
        }

        var connectorNonce = RandomNumberGenerator.GetBytes(NonceSize);
        var secret = Key(options);
        var proof = secret is null ? [] : Proof(secret, ConnectorLabel, challenge.Nonce, connectorNonce, options.ClusterId);
        await SendAsync(transport, FrameKind.Hello, Encode(ProtocolVersion, options.ClusterId, connectorNonce, proof), cancellationToken).ConfigureAwait(false);

        (kind, payload) = await ReceiveAsync(transport, cancellationToken).ConfigureAwait(false);
        switch (kind)
        {
            case FrameKind.Refused:
                var reason = payload.Length > 1 ? Encoding.UTF8.GetString(payload, 1, payload.Length - 1) : "no reason given";
                throw payload.Length > 0 && payload[0] == RefusedVersion
                    ? new FrameProtocolException($"The acceptor refused the connection: {reason}")
                    : new ClusterAuthenticationException($"The acceptor refused the connection: {reason}");
            case FrameKind.Welcome:
                // Checked so that a connector holding the secret cannot be lured into an impostor cluster.
                var expected = secret is null ? [] : Proof(secret, AcceptorLabel, challenge.Nonce, connectorNonce, options.ClusterId);
                if (!CryptographicOperations.FixedTimeEquals(payload, expected))
                {
                    throw new ClusterAuthenticationException("The acceptor did not prove that it knows the cluster secret.");
                }

                return;
            default:
                throw new FrameProtocolException($"Expected Welcome or Refused from the acceptor, got {kind}.");
        }
    }

    private static byte[]? Key(FrameNetworkOptions options) =>
        options.ClusterSecret is { } secret ? Encoding.UTF8.GetBytes(secret) : null;

    private static byte[] Proof(byte[] key, byte[] label, byte[] acceptorNonce, byte[] connectorNonce, string clusterId) =>
        HMACSHA256.HashData(key, (byte[])[.. label, .. acceptorNonce, .. connectorNonce, .. Encoding.UTF8.GetBytes(clusterId)]);

    private static async Task SendAsync(FrameTransport transport, FrameKind kind, byte[] payload, CancellationToken cancellationToken)
    {
        FrameCodec.Write(transport.Output, kind, 0, payload);
        await transport.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<(FrameKind Kind, byte[] Payload)> ReceiveAsync(FrameTransport transport, CancellationToken cancellationToken)
    {
        var frame = await FrameCodec.ReadOneAsync(transport.Input, MaxHandshakeFrame, cancellationToken).ConfigureAwait(false)
            ?? throw new ConnectionLostException("The peer closed the connection during the handshake.");
        return (frame.Header.Kind, frame.Payload);
    }

    // Challenge and Hello share a layout: version u16, cluster id (u16 length + UTF-8), nonce (32), proof (u8 length + bytes).
    private static byte[] Encode(ushort version, string clusterId, byte[] nonce, byte[] proof)
    {
        var id = Encoding.UTF8.GetBytes(clusterId);
        var bytes = new byte[2 + 2 + id.Length + NonceSize + 1 + proof.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, version);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2), (ushort)id.Length);
        id.CopyTo(bytes, 4);
        nonce.CopyTo(bytes, 4 + id.Length);
        bytes[4 + id.Length + NonceSize] = (byte)proof.Length;
        proof.CopyTo(bytes, 5 + id.Length + NonceSize);
        return bytes;
    }

    private static (ushort Version, string ClusterId, byte[] Nonce, byte[] Proof) Decode(byte[] bytes)
    {
        var span = bytes.AsSpan();
        if (span.Length < 4)
        {
            throw Malformed();
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(span);
        var idLength = BinaryPrimitives.ReadUInt16LittleEndian(span[2..]);
        if (span.Length < 4 + idLength + NonceSize + 1)
        {
            throw Malformed();
        }

        string clusterId;
        try
        {
            clusterId = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(span.Slice(4, idLength));
        }
        catch (DecoderFallbackException)
        {
            throw Malformed();
        }

        var nonce = span.Slice(4 + idLength, NonceSize).ToArray();
        var proofLength = span[4 + idLength + NonceSize];
        var rest = span[(5 + idLength + NonceSize)..];
        return rest.Length == proofLength ? (version, clusterId, nonce, rest.ToArray()) : throw Malformed();
    }

    private static FrameProtocolException Malformed() => new("Malformed handshake frame.");
}
