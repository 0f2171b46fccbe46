using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Analytics.Client.Cluster;

/// <summary>Where and how an <see cref="AnalyticsClusterClient"/> connects.</summary>
public sealed class AnalyticsClusterClientOptions
{
    public const string DefaultClusterId = "dev";

    public const string DefaultServiceId = "analytics";

    /// <summary>What is written when a cluster secret is given: Orleans has none.</summary>
    public const string ClusterSecretRetired =
        "warning: the cluster secret is retired and ignored: Orleans has no cluster secret. Secure the gateways with TLS instead " +
        "(mutual TLS with the cluster certificate: the silos' Orleans TLS certificate, pinned here by its thumbprint).";

    /// <summary>Gateway endpoints (host:port, the silos' Gateway:Port) of any silos of the cluster; one is enough, more give fail-over.</summary>
    public IList<string> Gateways { get; init; } = [];

    /// <summary>The silos' Orleans:ClusterId (formerly Cluster:Id).</summary>
    public string ClusterId { get; set; } = DefaultClusterId;

    /// <summary>The silos' Orleans:ServiceId.</summary>
    public string ServiceId { get; set; } = DefaultServiceId;

    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long connecting may take in all. Orleans tries the gateways again and again (a silo may
    /// be starting); once this has passed, the connect fails with the last reason seen.
    /// </summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// TLS: the SHA-1 thumbprints (40 hex digits, colons allowed) of the silos' certificate, several
    /// while it is rotated. Set, the client connects with TLS and accepts only a gateway presenting
    /// one of these certificates; another fails the connection with
    /// <see cref="ClusterAuthenticationException"/>. Empty: no TLS.
    /// </summary>
    public IList<string> TlsThumbprints { get; init; } = [];

    /// <summary>
    /// With TLS, the certificate this client presents (with its private key), for silos that
    /// require one (mutual TLS); usually the cluster's own certificate. Null: none.
    /// </summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Retired: Orleans has no cluster secret. A non-empty one is ignored, with <see cref="ClusterSecretRetired"/> written to <see cref="Warnings"/>.</summary>
    public string? ClusterSecret { get; set; }

    /// <summary>Where the warning about a retired setting goes (standard error unless set).</summary>
    public TextWriter? Warnings { get; set; }

    /// <summary>The Orleans client's logging; none unless set.</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; set; }
}
