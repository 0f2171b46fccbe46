using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Analytics.Runtime.Tests.Network.NetworkTestKit;

namespace Analytics.Runtime.Tests.Network;

/// <summary>
/// TLS from the cluster certificate (NetworkMessagingOptions.UseTlsCertificate, as configured by
/// Cluster:Tls:CertificatePath): networked silos that talk to each other and to clients over TLS,
/// pinned to the certificate's thumbprint; and the loader's errors for a bad configuration.
/// </summary>
public sealed class NetworkTlsTests : IDisposable
{
    private const string ClusterSecret = "network-tls-test-secret";
    private const string Password = "pfx-password";

    private readonly string _directory = Directory.CreateTempSubdirectory("analytics-tls-tests-").FullName;

    [Fact]
    public async Task Silos_call_each_other_over_tls_and_a_client_pinned_to_the_certificate_reaches_grains_on_both()
    {
        // Loaded the way the silo loads Cluster:Tls:CertificatePath, from a password-protected .pfx.
        using var created = CreateCertificate("CN=analytics-cluster");
        using var certificate = NetworkMessagingOptions.LoadTlsCertificate(WritePfx(created, "cluster.pfx", Password), Password);
        await using var cluster = await StartAsync(silos: 2, _ => (certificate, null));
        // Pinned in the form 'openssl x509 -noout -fingerprint -sha1' prints it.
        await using var client = Client(cluster, o => o.UseTls(OpensslFingerprint(certificate)));

        var grains = Enumerable.Range(0, 40).Select(i => client.GetGrain<ICounterGrain>($"tls-{i}")).ToList();
        foreach (var grain in grains)
        {
            Assert.Equal(2, await grain.Add(2));
        }

        var homes = new HashSet<string>();
        foreach (var grain in grains)
        {
            homes.Add(await grain.WhereAmI());
        }

        // Grains live on both silos, so calls went client -> gateway silo -> owner silo, both over TLS.
        Assert.Equal(cluster.Silos.Select(s => s.Address.ToString()).ToHashSet(), homes);
        Assert.True(cluster.Silos.Sum(s => Transport(s).Statistics.Sent) > 0, "some calls went silo to silo");
        Assert.True(cluster.Silos.Sum(s => Transport(s).Statistics.Received) > 0, "some calls arrived from the other silo");
        foreach (var silo in cluster.Silos)
        {
            // Both ports present the cluster certificate, and neither talks to a connector without TLS.
            Assert.Equal(certificate.Thumbprint, await PresentedThumbprintAsync(silo.Address.Port));
            Assert.Equal(certificate.Thumbprint, await PresentedThumbprintAsync(Transport(silo).GatewayPort));
            var plain = new FrameNetworkOptions
            {
                ClusterId = silo.Services.GetRequiredService<LocalSiloDetails>().ClusterId,
                ClusterSecret = ClusterSecret,
                HandshakeTimeout = TimeSpan.FromMilliseconds(500),
            };
            await Assert.ThrowsAsync<TimeoutException>(() => FrameConnector.ConnectAsync(new IPEndPoint(IPAddress.Loopback, silo.Address.Port), plain).WaitAsync(HangGuard));
        }
    }

    [Fact]
    public async Task A_client_pinned_to_another_certificate_refuses_the_gateway_and_says_why()
    {
        using var certificate = CreateCertificate("CN=analytics-cluster");
        using var other = CreateCertificate("CN=some-other-cluster");
        await using var cluster = await StartAsync(silos: 1, _ => (certificate, null));
        await using var client = Client(cluster, o => o.UseTls(other.Thumbprint));

        var error = await Assert.ThrowsAsync<ClusterAuthenticationException>(() => client.ConnectAsync().WaitAsync(HangGuard));
        Assert.Contains($"has thumbprint {certificate.Thumbprint}, which is not pinned (expected {other.Thumbprint})", error.Message);
        Assert.Contains("gateway's TLS certificate CN=analytics-cluster", error.Message);

        // A grain call fails the same way, and nothing reached the silo.
        await Assert.ThrowsAsync<ClusterAuthenticationException>(() => client.GetGrain<ICounterGrain>("pinned").Add(1).WaitAsync(HangGuard));
        Assert.Equal(0, Transport(cluster.Silos[0]).Statistics.FromClients);
    }

    [Fact]
    public async Task A_client_without_tls_fails_against_a_tls_gateway_within_its_connect_timeout()
    {
        using var certificate = CreateCertificate("CN=analytics-cluster");
        await using var cluster = await StartAsync(silos: 1, _ => (certificate, null));
        await using var plain = Client(cluster, o => o.ConnectTimeout = TimeSpan.FromSeconds(1));

        // Each side waits for the other to speak first (TLS ClientHello vs the handshake's Challenge), until ConnectTimeout.
        var error = await Assert.ThrowsAsync<SiloUnavailableException>(() => plain.GetGrain<ICounterGrain>("plain").Add(1).WaitAsync(HangGuard));
        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Contains("did not complete within 00:00:01", error.Message);
        Assert.Equal(0, Transport(cluster.Silos[0]).Statistics.FromClients);
    }

    [Fact]
    public async Task During_a_rotation_silos_with_the_old_and_the_new_certificate_accept_each_other()
    {
        using var old = CreateCertificate("CN=analytics-cluster-2025");
        using var next = CreateCertificate("CN=analytics-cluster-2026");
        // Silo 1 still has the old certificate and already accepts the new one; silo 2 the reverse.
        await using var cluster = await StartAsync(silos: 2, index => index == 0 ? (old, [next.Thumbprint]) : (next, [old.Thumbprint.ToLowerInvariant()]));
        await using var client = Client(cluster, o => o.UseTls(old.Thumbprint, [next.Thumbprint]));

        var grains = Enumerable.Range(0, 30).Select(i => client.GetGrain<ICounterGrain>($"rotation-{i}")).ToList();
        var homes = new HashSet<string>();
        foreach (var grain in grains)
        {
            Assert.Equal(1, await grain.Add(1));
            homes.Add(await grain.WhereAmI());
        }

        Assert.Equal(2, homes.Count);
        Assert.True(cluster.Silos.Sum(s => Transport(s).Statistics.Sent) > 0, "some calls went silo to silo");

        // A client that pins only the old certificate is refused by the silo that moved on.
        await using var stale = Client(cluster, o => o.UseTls(old.Thumbprint), gatewayOf: 1);
        var error = await Assert.ThrowsAsync<ClusterAuthenticationException>(() => stale.ConnectAsync().WaitAsync(HangGuard));
        Assert.Contains(next.Thumbprint, error.Message);
    }

    [Fact]
    public void The_pinning_ignores_an_untrusted_root_and_a_name_mismatch_but_no_other_certificate_error()
    {
        using var certificate = CreateCertificate("CN=analytics-cluster");
        using var expired = CreateCertificate("CN=analytics-cluster", notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        using var stranger = CreateCertificate("CN=stranger");
        var options = new NetworkMessagingOptions();
        options.UseTlsCertificate(certificate, [expired.Thumbprint]);
        var validate = options.ClientTls!.RemoteCertificateValidationCallback!;
        const SslPolicyErrors SelfSignedByIp = SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors;

        using (var chain = BuildChain(certificate))
        {
            Assert.Equal(new[] { X509ChainStatusFlags.UntrustedRoot }, chain.ChainStatus.Select(s => s.Status));
            Assert.True(validate(this, certificate, chain, SelfSignedByIp));
        }

        using (var chain = BuildChain(expired))
        {
            // Pinned (as an additional thumbprint), but expired: refused.
            Assert.Contains(chain.ChainStatus, s => s.Status == X509ChainStatusFlags.NotTimeValid);
            var error = Assert.Throws<ClusterAuthenticationException>(() => validate(this, expired, chain, SelfSignedByIp));
            Assert.Contains("is pinned but not valid: NotTimeValid", error.Message);
        }

        using (var chain = BuildChain(stranger))
        {
            // Even a certificate without any error would be refused: only pinned ones are accepted.
            var error = Assert.Throws<ClusterAuthenticationException>(() => validate(this, stranger, chain, SslPolicyErrors.None));
            Assert.Contains($"silo's TLS certificate CN=stranger has thumbprint {stranger.Thumbprint}, which is not pinned", error.Message);
        }

        Assert.Throws<ClusterAuthenticationException>(() => validate(this, null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
        Assert.NotNull(options.ServerTls?.ServerCertificateContext);
        Assert.Equal(certificate.Thumbprint, options.ServerTls.ServerCertificateContext.TargetCertificate.Thumbprint);
    }

    [Fact]
    public void Thumbprints_and_certificates_that_cannot_work_are_refused_when_configured()
    {
        using var certificate = CreateCertificate("CN=analytics-cluster");
        using var publicOnly = X509CertificateLoader.LoadCertificate(certificate.RawData);
        var options = new NetworkMessagingOptions();

        Assert.Contains("has no private key", Assert.Throws<ArgumentException>(() => options.UseTlsCertificate(publicOnly)).Message);
        Assert.Contains("'not-hex' is not a certificate thumbprint", Assert.Throws<ArgumentException>(() => options.UseTlsCertificate(certificate, ["not-hex"])).Message);
        Assert.Null(options.ServerTls);
        Assert.Null(options.ClientTls);
        Assert.Throws<ArgumentException>(() => new GatewayClientOptions().UseTls(certificate.Thumbprint[..39]));
        Assert.Throws<ArgumentException>(() => new GatewayClientOptions().UseTls(""));
        var client = new GatewayClientOptions();
        client.UseTls(certificate.Thumbprint.ToLowerInvariant());
        Assert.NotNull(client.Tls?.RemoteCertificateValidationCallback);
    }

    [Fact]
    public void The_loader_names_the_configuration_key_to_fix()
    {
        using var certificate = CreateCertificate("CN=analytics-cluster");
        var pfx = WritePfx(certificate, "cluster.pfx", Password);
        var missing = Path.Combine(_directory, "missing.pfx");

        var error = Assert.Throws<OptionsValidationException>(() => NetworkMessagingOptions.LoadTlsCertificate(missing, Password));
        Assert.Equal($"Cluster:Tls:CertificatePath: the file '{missing}' does not exist.", error.Message);
        Assert.Equal(typeof(NetworkMessagingOptions), error.OptionsType);

        error = Assert.Throws<OptionsValidationException>(() => NetworkMessagingOptions.LoadTlsCertificate(pfx, "not-the-password"));
        Assert.StartsWith($"Cluster:Tls:CertificatePassword does not open '{pfx}' (Cluster:Tls:CertificatePath)", error.Message);

        error = Assert.Throws<OptionsValidationException>(() => NetworkMessagingOptions.LoadTlsCertificate(pfx, null));
        Assert.StartsWith($"Cluster:Tls:CertificatePath: '{pfx}' cannot be opened without a password", error.Message);
        Assert.EndsWith("set Cluster:Tls:CertificatePassword.", error.Message);

        var pem = Path.Combine(_directory, "cluster.crt");
        File.WriteAllText(pem, certificate.ExportCertificatePem());
        error = Assert.Throws<OptionsValidationException>(() => NetworkMessagingOptions.LoadTlsCertificate(pem, null));
        Assert.Contains("is not a PKCS#12 (.pfx) file", error.Message);

        using var publicOnly = X509CertificateLoader.LoadCertificate(certificate.RawData);
        error = Assert.Throws<OptionsValidationException>(() => NetworkMessagingOptions.LoadTlsCertificate(WritePfx(publicOnly, "public.pfx", Password), Password));
        Assert.Contains("holds no private key", error.Message);

        using var expired = CreateCertificate("CN=analytics-cluster", notAfter: DateTimeOffset.UtcNow.AddDays(-1));
        error = Assert.Throws<OptionsValidationException>(() => NetworkMessagingOptions.LoadTlsCertificate(WritePfx(expired, "expired.pfx", null), null));
        Assert.Contains($"(thumbprint {expired.Thumbprint})", error.Message);
        Assert.Contains("expired on", error.Message);

        // The right password, and a file without one.
        using var loaded = NetworkMessagingOptions.LoadTlsCertificate(pfx, Password);
        Assert.True(loaded.HasPrivateKey);
        Assert.Equal(certificate.Thumbprint, loaded.Thumbprint);
        using var unprotected = NetworkMessagingOptions.LoadTlsCertificate(WritePfx(certificate, "open.pfx", null), null);
        Assert.Equal(certificate.Thumbprint, unprotected.Thumbprint);
    }

    [Fact]
    public async Task A_silo_whose_certificate_cannot_be_loaded_does_not_start_and_says_which_key_to_fix()
    {
        var missing = Path.Combine(_directory, "missing.pfx");
        // As the service's setup loads Cluster:Tls:CertificatePath: in the UseNetworkMessaging callback.
        var error = await Record.ExceptionAsync(() => Clusters.StartAsync(
            1,
            configure: silo => silo.UseNetworkMessaging(o =>
            {
                o.ClusterSecret = ClusterSecret;
                o.ListenAddress = "127.0.0.1";
                o.UseTlsCertificate(NetworkMessagingOptions.LoadTlsCertificate(missing, null));
            }),
            services: s => s.PostConfigure<SiloOptions>(o =>
            {
                o.SiloPort = TestPorts.FreePort();
                o.GatewayPort = TestPorts.FreePort();
            })).WaitAsync(HangGuard));

        var invalid = Assert.IsType<OptionsValidationException>(error);
        Assert.Equal($"Cluster:Tls:CertificatePath: the file '{missing}' does not exist.", invalid.Message);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>A networked cluster whose silo number i (from 0) uses the certificate and extra thumbprints tls(i).</summary>
    private static Task<TestCluster> StartAsync(int silos, Func<int, (X509Certificate2 Certificate, string[]? Allowed)> tls)
    {
        var started = 0;
        return Clusters.StartAsync(
            silos,
            configure: silo =>
            {
                var (certificate, allowed) = tls(started++);
                silo.UseNetworkMessaging(o =>
                {
                    o.ClusterSecret = ClusterSecret;
                    o.ListenAddress = "127.0.0.1";
                    o.UseTlsCertificate(certificate, allowed);
                });
            },
            services: s => s.PostConfigure<SiloOptions>(o =>
            {
                o.SiloPort = TestPorts.FreePort();
                o.GatewayPort = TestPorts.FreePort();
            }));
    }

    private static GatewayClusterClient Client(TestCluster cluster, Action<GatewayClientOptions> configure, int? gatewayOf = null)
    {
        var options = new GatewayClientOptions
        {
            ClusterSecret = ClusterSecret,
            Gateways = (gatewayOf is { } only ? [cluster.Silos[only]] : cluster.Silos).Select(s => $"127.0.0.1:{Transport(s).GatewayPort}").ToList(),
        };
        configure(options);
        return new GatewayClusterClient(options);
    }

    private static NetworkMessageTransport Transport(TestSilo silo) => silo.Services.GetRequiredService<NetworkMessageTransport>();

    /// <summary>The thumbprint of the certificate a TLS handshake on the port presents (null if it presents none).</summary>
    private static async Task<string?> PresentedThumbprintAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port).WaitAsync(HangGuard);
        await using var ssl = new SslStream(tcp.GetStream());
        string? presented = null;
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                presented = certificate?.GetCertHashString();
                return true;
            },
        }).WaitAsync(HangGuard);
        return presented;
    }

    private static X509Chain BuildChain(X509Certificate2 certificate)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.Build(certificate);
        return chain;
    }

    private string WritePfx(X509Certificate2 certificate, string name, string? password)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, password));
        return path;
    }

    /// <summary>"SHA1 Fingerprint=AB:CD:…", as 'openssl x509 -noout -fingerprint -sha1' prints it.</summary>
    private static string OpensslFingerprint(X509Certificate2 certificate) =>
        "SHA1 Fingerprint=" + string.Join(':', certificate.Thumbprint.Chunk(2).Select(pair => new string(pair)));

    private static X509Certificate2 CreateCertificate(string subject, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var end = notAfter ?? DateTimeOffset.UtcNow.AddHours(1);
        using var ephemeral = request.CreateSelfSigned(end.AddDays(-30), end);
        // Round-tripped through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pfx), null);
    }
}
