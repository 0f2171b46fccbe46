using System.Net.Security;
using System.Text;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>Options of the framed silo-to-silo (and client-to-gateway) connections, both ends.</summary>
public sealed class FrameNetworkOptions
{
    public const int DefaultMaxFrameSize = 16 * 1024 * 1024;

    /// <summary>Both ends must name the same cluster; the acceptor refuses any other.</summary>
    public string ClusterId { get; set; } = "dev";

    /// <summary>
    /// Shared secret a connector proves it knows (HMAC challenge-response; it never crosses the wire).
    /// Leaving it unset on both ends disables authentication, which is for tests and development
    /// only: anyone who can reach the port can then call grains. Set on one end only, connections are refused.
    /// </summary>
    public string? ClusterSecret { get; set; }

    /// <summary>Largest payload of one frame, in bytes. Larger frames are a protocol error that closes the connection.</summary>
    public int MaxFrameSize { get; set; } = DefaultMaxFrameSize;

    /// <summary>TLS (if any) plus the hello exchange must finish within this, or the socket is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a closing connection waits for its queued frames and goodbye to be written.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Frames queued for the single writer of a connection; senders wait when it is full.</summary>
    public int SendQueueCapacity { get; set; } = 1024;

    /// <summary>Set on the accepting side to require TLS.</summary>
    public SslServerAuthenticationOptions? ServerTls { get; set; }

    /// <summary>Set on the connecting side to use TLS (TargetHost and certificate validation are the caller's choice).</summary>
    public SslClientAuthenticationOptions? ClientTls { get; set; }

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    public string? Validate() =>
        string.IsNullOrEmpty(ClusterId) ? "ClusterId must not be empty."
        : Encoding.UTF8.GetByteCount(ClusterId) > 256 ? "ClusterId must be at most 256 bytes of UTF-8."
        : ClusterSecret is { Length: < 16 } ? "ClusterSecret must be at least 16 characters (leave it unset to disable authentication, for tests and development only)."
        : MaxFrameSize is < 1024 or > 1024 * 1024 * 1024 ? $"MaxFrameSize must be between 1 KiB and 1 GiB, not {MaxFrameSize}."
        : HandshakeTimeout <= TimeSpan.Zero ? "HandshakeTimeout must be positive."
        : CloseTimeout < TimeSpan.Zero ? "CloseTimeout must not be negative."
        : SendQueueCapacity < 1 ? "SendQueueCapacity must be at least 1."
        : null;

    internal void ThrowIfInvalid()
    {
        if (Validate() is { } error)
        {
            throw new ArgumentException(error, "options");
        }
    }
}
