using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Analytics.Client.Cluster;

/// <summary>
/// Accepts a gateway only if its TLS certificate has one of a set of SHA-1 thumbprints: the
/// cluster's certificate is pinned, not trusted through a certificate authority, so a self-signed
/// one is fine. An untrusted root and a host name mismatch are ignored (gateways are reached by
/// address); any other chain error is not. The reason of the last refusal is kept, because Orleans
/// reports a failed handshake only as a failed connection.
/// </summary>
public sealed class TlsCertificatePinning
{
    private volatile string? _lastRejection;

    /// <exception cref="ArgumentException">A thumbprint is not 40 hex digits, or there is none.</exception>
    public TlsCertificatePinning(IEnumerable<string> thumbprints) => Pinned = Normalize(thumbprints);

    /// <summary>Upper-case hex without separators.</summary>
    public IReadOnlySet<string> Pinned { get; }

    /// <summary>Why the last certificate was refused (null: none was).</summary>
    public string? LastRejection => _lastRejection;

    /// <summary>Forgets the last refusal, before a new connect.</summary>
    public void Reset() => _lastRejection = null;

    /// <summary>
    /// Upper-case hex without separators; accepts the forms Windows and
    /// <c>openssl x509 -noout -fingerprint -sha1</c> print (colons, spaces, a <c>SHA1 Fingerprint=</c> prefix).
    /// </summary>
    /// <exception cref="ArgumentException">A thumbprint is not 40 hex digits, or there is none.</exception>
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

        return normalized.Count > 0 ? normalized : throw new ArgumentException("At least one certificate thumbprint is needed.");
    }

    /// <summary>Splits a comma-separated list (several thumbprints while the certificate is rotated).</summary>
    public static IReadOnlyList<string> Split(string? thumbprints) =>
        (thumbprints ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>True for a pinned certificate whose only faults are an untrusted root and a name mismatch; otherwise records why and returns false.</summary>
    public bool Validate(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var rejection = Check(certificate, chain, errors);
        if (rejection is not null)
        {
            _lastRejection = rejection;
        }

        return rejection is null;
    }

    private string? Check(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "The gateway presented no TLS certificate.";
        }

        var thumbprint = certificate.Thumbprint.ToUpperInvariant();
        if (!Pinned.Contains(thumbprint))
        {
            return $"The gateway's TLS certificate {certificate.Subject} has thumbprint {thumbprint}, which is not pinned (expected {string.Join(" or ", Pinned)}).";
        }

        if (!errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            return null;
        }

        var faults = (chain?.ChainStatus ?? [])
            .Where(s => s.Status is not (X509ChainStatusFlags.NoError or X509ChainStatusFlags.UntrustedRoot))
            .Select(s => $"{s.Status} ({s.StatusInformation.Trim()})")
            .ToList();
        return faults.Count == 0 && chain is not null
            ? null
            : $"The gateway's TLS certificate {certificate.Subject} (thumbprint {thumbprint}) is pinned but not valid: {(faults.Count > 0 ? string.Join("; ", faults) : "its chain could not be checked")}.";
    }
}
