namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// The connection closed (peer gone, peer closed it, protocol error or local disposal) before the
/// request was answered. Whether the peer acted on the request is unknown. The transport above maps
/// this to <see cref="SiloUnavailableException"/>.
/// </summary>
public sealed class ConnectionLostException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>The peer broke the frame protocol: garbage, a truncated frame, an unexpected frame kind.</summary>
public class FrameProtocolException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>A frame is larger than <see cref="FrameNetworkOptions.MaxFrameSize"/>.</summary>
public sealed class FrameTooLargeException(string message) : FrameProtocolException(message);

/// <summary>The acceptor refused the connector: wrong cluster id or cluster secret (or a secret on one side only).</summary>
public sealed class ClusterAuthenticationException(string message) : Exception(message);

/// <summary>The peer's request handler failed; carries the remote exception's type name and message.</summary>
public sealed class RemoteRequestException(string remoteType, string message) : Exception(message)
{
    public string RemoteType { get; } = remoteType;

    public override string ToString() => $"{nameof(RemoteRequestException)} (remote {RemoteType}): {Message}";
}
