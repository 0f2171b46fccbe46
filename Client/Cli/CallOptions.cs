using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Analytics.Client.Cluster;

namespace Analytics.Client.Cli;

/// <summary>The connection options of <c>analytics call</c> and how they become an <see cref="AnalyticsClusterClient"/>.</summary>
internal sealed class CallOptions
{
    public const string SecretVariable = "ANALYTICS_CLUSTER_SECRET";

    public const string TlsThumbprintVariable = "ANALYTICS_CLUSTER_TLS_THUMBPRINT";

    public const string TlsCertificateVariable = "ANALYTICS_CLUSTER_TLS_CERTIFICATE";

    public const string TlsCertificatePasswordVariable = "ANALYTICS_CLUSTER_TLS_CERTIFICATE_PASSWORD";

    public Option<string[]> Gateways { get; } = new("--gateway")
    {
        Description = "A silo's gateway, host:port (its Gateway:Port). Repeat it for fail-over between silos.",
        HelpName = "host:port",
        Required = true,
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string?> Secret { get; } = new("--cluster-secret")
    {
        Description = $"Retired and ignored (Orleans has no cluster secret): secure the gateways with TLS, --tls-thumbprint. [default: ${SecretVariable}]",
        HelpName = "secret",
    };

    public Option<string> ClusterId { get; } = new("--cluster-id")
    {
        Description = "The silos' Orleans:ClusterId (formerly Cluster:Id).",
        HelpName = "id",
        DefaultValueFactory = _ => AnalyticsClusterClientOptions.DefaultClusterId,
    };

    public Option<string> ServiceId { get; } = new("--service-id")
    {
        Description = "The silos' Orleans:ServiceId.",
        HelpName = "id",
        DefaultValueFactory = _ => AnalyticsClusterClientOptions.DefaultServiceId,
    };

    public Option<string?> TlsThumbprint { get; } = new("--tls-thumbprint")
    {
        Description = "Connect with TLS, accepting only gateways that present the silos' TLS certificate with this SHA-1 thumbprint " +
            $"(40 hex digits, colons allowed; several comma-separated while it is rotated). [default: ${TlsThumbprintVariable}; unset: no TLS]",
        HelpName = "sha1 hex",
    };

    public Option<FileInfo?> TlsCertificate { get; } = new("--tls-certificate")
    {
        Description = "With TLS, the certificate this client presents, for silos that require one (mutual TLS): a PKCS#12 file (.pfx, .p12; " +
            $"password in ${TlsCertificatePasswordVariable}) or a PEM file holding the certificate and its key. [default: ${TlsCertificateVariable}; unset: none]",
        HelpName = "file",
    };

    public Option<TimeSpan?> ConnectTimeout { get; } = CliOptions.Duration("--connect-timeout", "How long to keep trying the gateways before giving up. [default: 10s]");

    public IEnumerable<Option> All => [Gateways, Secret, ClusterId, ServiceId, TlsThumbprint, TlsCertificate, ConnectTimeout];

    /// <summary>The thumbprint(s) given, from the option or the environment; null: no TLS.</summary>
    public string? Thumbprint(CommandContext context)
    {
        var value = context.Get(TlsThumbprint) ?? context.Env.GetEnvironmentVariable(TlsThumbprintVariable);
        return string.IsNullOrWhiteSpace(value) ? null : value;
    }

    /// <summary>Whether a client certificate is given, by option or environment.</summary>
    public bool HasCertificate(CommandContext context) =>
        context.Get(TlsCertificate) is not null || !string.IsNullOrWhiteSpace(context.Env.GetEnvironmentVariable(TlsCertificateVariable));

    /// <exception cref="UsageException">No gateway, a malformed gateway or thumbprint, or an unreadable certificate.</exception>
    public AnalyticsClusterClient CreateClient(CommandContext context)
    {
        if (context.Get(Gateways) is not { Length: > 0 } gateways)
        {
            throw new UsageException("call needs at least one --gateway host:port: a silo's gateway endpoint (its Gateway:Port).");
        }

        var thumbprint = Thumbprint(context);
        var certificate = LoadCertificate(context);
        if (certificate is not null && thumbprint is null)
        {
            certificate.Dispose();
            throw new UsageException("--tls-certificate needs --tls-thumbprint: a client certificate is only sent over TLS.");
        }

        try
        {
            return new AnalyticsClusterClient(new AnalyticsClusterClientOptions
            {
                Gateways = gateways,
                ClusterSecret = context.Get(Secret) ?? context.Env.GetEnvironmentVariable(SecretVariable),
                ClusterId = context.Get(ClusterId) ?? AnalyticsClusterClientOptions.DefaultClusterId,
                ServiceId = context.Get(ServiceId) ?? AnalyticsClusterClientOptions.DefaultServiceId,
                TlsThumbprints = TlsCertificatePinning.Split(thumbprint).ToList(),
                ClientCertificate = certificate,
                ConnectTimeout = context.Get(ConnectTimeout) ?? TimeSpan.FromSeconds(10),
                Warnings = context.Err,
            });
        }
        catch (ArgumentException exception)
        {
            certificate?.Dispose();
            throw new UsageException(exception.Message);
        }
    }

    private X509Certificate2? LoadCertificate(CommandContext context)
    {
        var path = context.Get(TlsCertificate)?.FullName ?? context.Env.GetEnvironmentVariable(TlsCertificateVariable);
        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        try
        {
            var certificate = Path.GetExtension(path).ToLowerInvariant() is ".pfx" or ".p12"
                ? X509CertificateLoader.LoadPkcs12FromFile(path, context.Env.GetEnvironmentVariable(TlsCertificatePasswordVariable))
                : X509Certificate2.CreateFromPemFile(path);
            if (!certificate.HasPrivateKey)
            {
                certificate.Dispose();
                throw new UsageException($"--tls-certificate {path}: the certificate has no private key, which a client certificate needs.");
            }

            return certificate;
        }
        catch (Exception exception) when (exception is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--tls-certificate {path}: cannot be read as a certificate with its key: {exception.Message}");
        }
    }
}
