using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Orleans.Connections.Security;

namespace Analytics.Silo.Hosting;

/// <summary>
/// Mutual TLS between silos and from clients, with Orleans' own transport security
/// (Microsoft.Orleans.Connections.Security): every silo presents the cluster's certificate
/// (<c>Cluster:Tls:CertificatePath</c>, a PFX) and accepts only peers whose certificate is that one
/// or has one of the further thumbprints of <c>Cluster:Tls:AllowedThumbprints</c> (for rotations).
/// </summary>
/// <remarks>
/// Orleans has no shared-secret handshake, so <c>Cluster:Secret</c> is retired: a silo that still
/// has it logs a warning at start and relies on TLS (and the cluster and service ids) instead.
/// </remarks>
internal static class ClusterTls
{
    public const string CertificatePathKey = "Cluster:Tls:CertificatePath";
    public const string CertificatePasswordKey = "Cluster:Tls:CertificatePassword";
    public const string AllowedThumbprintsKey = "Cluster:Tls:AllowedThumbprints";

    public static void UseClusterTls(this ISiloBuilder silo, IConfiguration configuration)
    {
        if (configuration[CertificatePathKey] is not { Length: > 0 } path)
        {
            return;
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(path, configuration[CertificatePasswordKey]);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new OptionsValidationException(CertificatePathKey, typeof(TlsOptions), [$"{CertificatePathKey}: cannot load '{path}' as a PFX certificate: {exception.Message}"]);
        }

        if (!certificate.HasPrivateKey)
        {
            throw new OptionsValidationException(CertificatePathKey, typeof(TlsOptions), [$"{CertificatePathKey}: '{path}' holds no private key; the silo must present the certificate."]);
        }

        if (certificate.NotAfter < DateTime.Now || certificate.NotBefore > DateTime.Now)
        {
            throw new OptionsValidationException(CertificatePathKey, typeof(TlsOptions), [$"{CertificatePathKey}: the certificate in '{path}' is valid only from {certificate.NotBefore:u} to {certificate.NotAfter:u}."]);
        }

        // Its own certificate, and any listed for a rotation.
        var allowed = (ParseThumbprints(configuration[AllowedThumbprintsKey]) ?? []).Append(certificate.Thumbprint).ToHashSet(StringComparer.OrdinalIgnoreCase);
        silo.UseTls(certificate, tls =>
        {
            tls.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            // Pinned by thumbprint, not trusted through a CA: a self-signed certificate is fine, so an
            // untrusted root and a host-name mismatch are ignored; an expired certificate is not.
            tls.RemoteCertificateValidation = (remote, _, _) =>
                remote is not null
                && allowed.Contains(remote.Thumbprint)
                && remote.NotBefore <= DateTime.Now && DateTime.Now <= remote.NotAfter;
        });
    }

    /// <summary>SHA-1 thumbprints, 40 hex digits each (colons and spaces allowed), separated by commas.</summary>
    public static string[]? ParseThumbprints(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var thumbprints = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => t.Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant())
            .ToArray();
        if (thumbprints.FirstOrDefault(t => t.Length != 40 || !t.All(Uri.IsHexDigit)) is { } bad)
        {
            throw new OptionsValidationException(AllowedThumbprintsKey, typeof(TlsOptions), [$"{AllowedThumbprintsKey}: '{bad}' is not a SHA-1 thumbprint (40 hex digits)."]);
        }

        return thumbprints;
    }
}
