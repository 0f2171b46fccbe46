using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Analytics.Client.Cluster;

/// <summary>A gateway as the caller wrote it: a host name or IP address and a port.</summary>
public sealed record GatewayEndpoint(string Host, int Port)
{
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Parses host:port ([v6]:port for IPv6 addresses).</summary>
    /// <exception cref="ArgumentException">It is not host:port with a port from 1 to 65535.</exception>
    public static GatewayEndpoint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535)
        {
            var host = text[..colon].Trim();
            if (host.StartsWith('[') && host.EndsWith(']'))
            {
                host = host[1..^1];
            }

            if (host.Length > 0 && (Uri.CheckHostName(host) != UriHostNameType.Unknown))
            {
                return new GatewayEndpoint(host, port);
            }
        }

        throw new ArgumentException($"'{text}' is not a gateway endpoint of the form host:port.");
    }

    /// <summary>The endpoint's addresses: the address itself, or what the host name resolves to (IPv4 first).</summary>
    public async Task<IReadOnlyList<IPEndPoint>> ResolveAsync(CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(Host, out var address))
        {
            return [new IPEndPoint(address, Port)];
        }

        var addresses = await Dns.GetHostAddressesAsync(Host, cancellationToken).ConfigureAwait(false);
        return addresses
            .Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            .OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1)
            .Take(1)
            .Select(a => new IPEndPoint(a, Port))
            .ToList();
    }

    /// <summary>An Orleans gateway URI (generation 0: any generation of the silo at that endpoint).</summary>
    public static Uri ToGatewayUri(IPEndPoint endpoint) => new($"gwy.tcp://{endpoint}/0");
}
