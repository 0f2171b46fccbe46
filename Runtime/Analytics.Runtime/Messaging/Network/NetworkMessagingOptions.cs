using System.Net;
using System.Net.Security;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// Options of the network transport between silos (Silo:Port) and from clients to gateways
/// (Gateway:Port). The cluster id comes from <see cref="Hosting.SiloOptions.ClusterId"/>.
/// </summary>
public sealed class NetworkMessagingOptions
{
    /// <summary>
    /// The secret every silo and client of the cluster must prove it knows (configuration key
    /// Cluster:Secret, at least 16 characters). It never crosses the wire: each connection proves it
    /// with an HMAC challenge-response. Unset, anyone who reaches the ports can call grains, so leave
    /// it unset only in tests and development.
    /// </summary>
    public string? ClusterSecret { get; set; }

    /// <summary>The local address the silo and gateway ports listen on (Silo:ListenAddress). Any address by default.</summary>
    public string ListenAddress { get; set; } = IPAddress.Any.ToString();

    /// <summary>Connecting, TLS and the handshake must finish within this, or the peer counts as unreachable.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest message (a grain call's arguments or result), in bytes.</summary>
    public int MaxMessageSize { get; set; } = FrameNetworkOptions.DefaultMaxFrameSize;

    /// <summary>Set to require TLS on the silo and gateway ports.</summary>
    public SslServerAuthenticationOptions? ServerTls { get; set; }

    /// <summary>Set to use TLS when this silo connects to others (it must match their ServerTls).</summary>
    public SslClientAuthenticationOptions? ClientTls { get; set; }

    internal FrameNetworkOptions ToFrameOptions(string clusterId, TimeProvider timeProvider) => new()
    {
        ClusterId = clusterId,
        ClusterSecret = string.IsNullOrEmpty(ClusterSecret) ? null : ClusterSecret,
        MaxFrameSize = MaxMessageSize,
        HandshakeTimeout = ConnectTimeout,
        ServerTls = ServerTls,
        ClientTls = ClientTls,
        TimeProvider = timeProvider,
    };
}

internal sealed class NetworkMessagingOptionsValidator : IValidateOptions<NetworkMessagingOptions>
{
    public ValidateOptionsResult Validate(string? name, NetworkMessagingOptions options)
    {
        var error = !IPAddress.TryParse(options.ListenAddress, out _) ? $"Silo:ListenAddress '{options.ListenAddress}' is not an IP address."
            : options.ToFrameOptions("validation", TimeProvider.System).Validate() is { } frameError
                ? frameError.Replace("ClusterSecret", "Cluster:Secret", StringComparison.Ordinal).Replace("HandshakeTimeout", "ConnectTimeout", StringComparison.Ordinal)
                : null;
        return error is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(error);
    }
}
