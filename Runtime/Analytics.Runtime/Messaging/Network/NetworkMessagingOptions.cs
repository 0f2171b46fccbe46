using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Messaging.Network;

/// <summary>
/// Options of the network transport between silos (Silo:Port) and from clients to gateways
/// (Gateway:Port). The cluster id comes from <see cref="Hosting.SiloOptions.ClusterId"/>.
/// </summary>
public sealed class NetworkMessagingOptions
{
    /// <summary>Configuration key of the cluster's TLS certificate: a PKCS#12 (.pfx) file with its private key.</summary>
    public const string TlsCertificatePathKey = "Cluster:Tls:CertificatePath";

    /// <summary>Configuration key of the password of <see cref="TlsCertificatePathKey"/>'s file (optional).</summary>
    public const string TlsCertificatePasswordKey = "Cluster:Tls:CertificatePassword";

    /// <summary>Configuration key of further accepted certificate thumbprints (comma-separated), for rotations.</summary>
    public const string TlsAllowedThumbprintsKey = "Cluster:Tls:AllowedThumbprints";

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

    /// <summary>Set to require TLS on the silo and gateway ports (see <see cref="UseTlsCertificate"/>).</summary>
    public SslServerAuthenticationOptions? ServerTls { get; set; }

    /// <summary>Set to use TLS when this silo connects to others (it must match their ServerTls; see <see cref="UseTlsCertificate"/>).</summary>
    public SslClientAuthenticationOptions? ClientTls { get; set; }

    /// <summary>
    /// Turns TLS on with the cluster's certificate, which every silo of the cluster shares.
    /// <para>
    /// TLS: the silo and gateway ports then accept only TLS connections and present
    /// <paramref name="certificate"/> (<see cref="ServerTls"/>); this silo's own connections to
    /// other silos use TLS too (<see cref="ClientTls"/>) and accept a peer only if it presents a
    /// certificate with the thumbprint of <paramref name="certificate"/> or one of
    /// <paramref name="additionalThumbprints"/> (to let silos with the old and the new certificate
    /// talk during a rotation). The certificate is pinned rather than trusted through a CA, so a
    /// self-signed one is fine: an untrusted root and a host name mismatch are ignored, any other
    /// certificate error (expired, not yet valid, a broken signature) is not. Clients pin the same
    /// thumbprint with <see cref="GatewayClientOptions.UseTls"/>. TLS encrypts and authenticates
    /// the silos to their callers; the cluster secret still authenticates the callers, so keep it set.
    /// </para>
    /// </summary>
    /// <param name="certificate">The cluster certificate, with its private key (see <see cref="LoadTlsCertificate"/>).</param>
    /// <param name="additionalThumbprints">SHA-1 thumbprints (hex, colons and spaces allowed) of further certificates peers may present.</param>
    /// <exception cref="ArgumentException">The certificate has no private key, or a thumbprint is not 40 hex digits.</exception>
    public void UseTlsCertificate(X509Certificate2 certificate, IEnumerable<string>? additionalThumbprints = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException($"The TLS certificate {certificate.Subject} (thumbprint {certificate.Thumbprint}) has no private key; a silo needs it to accept TLS connections.", nameof(certificate));
        }

        var pinned = TlsCertificatePinning.Normalize([certificate.Thumbprint, .. additionalThumbprints ?? []]);
        ServerTls = new SslServerAuthenticationOptions
        {
            // Built once (offline: the chain of a pinned certificate is never fetched) rather than per connection.
            ServerCertificateContext = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true),
            ClientCertificateRequired = false,
        };
        ClientTls = TlsCertificatePinning.ClientOptions(pinned, "silo");
    }

    /// <summary>
    /// Loads the cluster's TLS certificate from a PKCS#12 (.pfx) file holding the certificate and its
    /// private key, as configured by <see cref="TlsCertificatePathKey"/> and <see cref="TlsCertificatePasswordKey"/>.
    /// <para>
    /// TLS: pass the result to <see cref="UseTlsCertificate"/>. The errors name the configuration
    /// keys, so that an operator can tell from the start-up failure what to fix: the file is missing,
    /// is not PKCS#12, the password does not open it, it holds no private key, or the certificate
    /// has expired (peers would refuse it).
    /// </para>
    /// </summary>
    /// <exception cref="OptionsValidationException">The certificate cannot be used; the message says why.</exception>
    public static X509Certificate2 LoadTlsCertificate(string path, string? password)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw TlsError($"{TlsCertificatePathKey} is empty.");
        }

        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw TlsError($"{TlsCertificatePathKey}: the file '{fullPath}' does not exist.");
        }

        X509Certificate2 certificate;
        try
        {
            var contentType = X509Certificate2.GetCertContentType(fullPath);
            if (contentType != X509ContentType.Pkcs12)
            {
                throw TlsError($"{TlsCertificatePathKey}: '{fullPath}' is not a PKCS#12 (.pfx) file (it reads as {contentType}); bundle the certificate and its private key with 'openssl pkcs12 -export'.");
            }

            certificate = X509CertificateLoader.LoadPkcs12FromFile(fullPath, string.IsNullOrEmpty(password) ? null : password);
        }
        catch (CryptographicException exception)
        {
            throw TlsError(string.IsNullOrEmpty(password)
                ? $"{TlsCertificatePathKey}: '{fullPath}' cannot be opened without a password ({exception.Message}); set {TlsCertificatePasswordKey}."
                : $"{TlsCertificatePasswordKey} does not open '{fullPath}' ({TlsCertificatePathKey}): {exception.Message}");
        }
        catch (IOException exception)
        {
            throw TlsError($"{TlsCertificatePathKey}: '{fullPath}' cannot be read: {exception.Message}");
        }
        catch (UnauthorizedAccessException exception)
        {
            throw TlsError($"{TlsCertificatePathKey}: '{fullPath}' cannot be read: {exception.Message}");
        }

        var problem = !certificate.HasPrivateKey ? "holds no private key; export it with the key ('openssl pkcs12 -export -inkey ...')"
            : certificate.NotAfter < DateTime.Now ? $"expired on {certificate.NotAfter.ToUniversalTime():u}; peers refuse an expired certificate"
            : certificate.NotBefore > DateTime.Now ? $"is not valid before {certificate.NotBefore.ToUniversalTime():u}; peers refuse it until then"
            : null;
        if (problem is not null)
        {
            var message = $"{TlsCertificatePathKey}: the certificate {certificate.Subject} (thumbprint {certificate.Thumbprint}) in '{fullPath}' {problem}.";
            certificate.Dispose();
            throw TlsError(message);
        }

        return certificate;
    }

    private static OptionsValidationException TlsError(string message) =>
        new(Options.DefaultName, typeof(NetworkMessagingOptions), [message]);

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

/// <summary>
/// TLS client options that accept a server only if its certificate has one of a set of SHA-1
/// thumbprints: the cluster's certificate is pinned, not trusted through a certificate authority.
/// </summary>
internal static class TlsCertificatePinning
{
    /// <summary>Upper-case hex without separators; accepts the forms Windows and 'openssl x509 -fingerprint -sha1' print.</summary>
    public static IReadOnlySet<string> Normalize(IEnumerable<string> thumbprints)
    {
        var normalized = new HashSet<string>(StringComparer.Ordinal);
        foreach (var thumbprint in thumbprints)
        {
            var hex = new string((thumbprint ?? "").Where(c => c is not (':' or ' ' or '-')).ToArray()).ToUpperInvariant();
            var fingerprint = hex.StartsWith("SHA1FINGERPRINT=", StringComparison.Ordinal) ? hex["SHA1FINGERPRINT=".Length..] : hex;
            if (fingerprint.Length != 40 || !fingerprint.All(char.IsAsciiHexDigit))
            {
                throw new ArgumentException($"'{thumbprint}' is not a certificate thumbprint: expected the 40 hex digits of its SHA-1 fingerprint.");
            }

            normalized.Add(fingerprint);
        }

        if (normalized.Count == 0)
        {
            throw new ArgumentException("At least one certificate thumbprint is needed.");
        }

        return normalized;
    }

    public static SslClientAuthenticationOptions ClientOptions(IReadOnlySet<string> pinned, string peer) => new()
    {
        // The name is not checked (peers are reached by IP address), so no TargetHost; nor is revocation.
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Validate(pinned, peer, certificate, chain, errors),
    };

    /// <summary>
    /// True for a pinned certificate whose only faults are an untrusted root and a name mismatch.
    /// Anything else throws <see cref="ClusterAuthenticationException"/> with the reason: the
    /// handshake fails with that message rather than with SslStream's generic one.
    /// </summary>
    internal static bool Validate(IReadOnlySet<string> pinned, string peer, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            throw new ClusterAuthenticationException($"The {peer} presented no TLS certificate.");
        }

        var thumbprint = certificate.GetCertHashString();
        if (!pinned.Contains(thumbprint))
        {
            throw new ClusterAuthenticationException(
                $"The {peer}'s TLS certificate {certificate.Subject} has thumbprint {thumbprint}, which is not pinned (expected {string.Join(" or ", pinned)}).");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            var faults = (chain?.ChainStatus ?? [])
                .Where(s => s.Status is not (X509ChainStatusFlags.NoError or X509ChainStatusFlags.UntrustedRoot))
                .Select(s => $"{s.Status} ({s.StatusInformation.Trim()})")
                .ToList();
            if (faults.Count > 0 || chain is null)
            {
                throw new ClusterAuthenticationException(
                    $"The {peer}'s TLS certificate {certificate.Subject} (thumbprint {thumbprint}) is pinned but not valid: {(faults.Count > 0 ? string.Join("; ", faults) : "its chain could not be checked")}.");
            }
        }

        return true;
    }
}
