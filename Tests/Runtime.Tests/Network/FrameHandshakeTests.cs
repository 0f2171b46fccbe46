using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Analytics.Runtime.Messaging.Network;
using static Analytics.Runtime.Tests.Network.NetworkTestKit;

namespace Analytics.Runtime.Tests.Network;

public sealed class FrameHandshakeTests
{
    [Fact]
    public async Task The_right_secret_is_accepted()
    {
        await using var server = new TestServer(Options(Secret));
        await using var client = await server.ConnectAsync(Options(Secret));

        Assert.Equal(4, (await client.SendRequestAsync(new byte[4]).WaitAsync(HangGuard)).Length);
    }

    [Fact]
    public async Task A_wrong_secret_is_refused_and_the_right_one_still_accepted()
    {
        await using var server = new TestServer(Options(Secret));

        var error = await Assert.ThrowsAsync<ClusterAuthenticationException>(() => server.ConnectAsync(Options("not the cluster secret at all")));

        Assert.Contains("secret does not match", error.Message);
        await using var client = await server.ConnectAsync(Options(Secret));
        Assert.Equal(1, (await client.SendRequestAsync(new byte[1]).WaitAsync(HangGuard)).Length);
        Assert.Single(server.Listener.Connections);
    }

    [Fact]
    public async Task A_secret_on_one_side_only_is_refused_either_way()
    {
        await using var guarded = new TestServer(Options(Secret));
        var missing = await Assert.ThrowsAsync<ClusterAuthenticationException>(() => guarded.ConnectAsync(Options(secret: null)));
        Assert.Contains("presented none", missing.Message);

        await using var open = new TestServer(Options(secret: null));
        var unexpected = await Assert.ThrowsAsync<ClusterAuthenticationException>(() => open.ConnectAsync(Options(Secret)));
        Assert.Contains("none configured", unexpected.Message);
    }

    [Fact]
    public async Task A_wrong_cluster_id_is_refused()
    {
        await using var server = new TestServer(Options(Secret, cluster: "blue"));

        var error = await Assert.ThrowsAsync<ClusterAuthenticationException>(() => server.ConnectAsync(Options(Secret, cluster: "green")));

        Assert.Contains("'green' does not match", error.Message);
        Assert.Empty(server.Listener.Connections);
    }

    [Fact]
    public async Task Tls_with_a_self_signed_certificate_and_a_secret_round_trips()
    {
        using var certificate = CreateSelfSignedCertificate();
        var serverOptions = Options(Secret);
        serverOptions.ServerTls = new SslServerAuthenticationOptions { ServerCertificate = certificate };
        var clientOptions = Options(Secret);
        var thumbprint = certificate.GetCertHashString();
        clientOptions.ClientTls = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            // Pinned: the test certificate is not in any trust store.
            RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == thumbprint,
        };
        await using var server = new TestServer(serverOptions);

        await using var client = await server.ConnectAsync(clientOptions);
        var reply = await client.SendRequestAsync(new byte[] { 9, 8, 7 }).WaitAsync(HangGuard);

        Assert.True(client.IsTls);
        Assert.True((await server.FirstAccepted).IsTls);
        Assert.Equal(new byte[] { 9, 8, 7 }, reply.ToArray());
    }

    [Fact]
    public async Task A_plain_connector_cannot_talk_to_a_tls_listener()
    {
        // Each side waits for the other to speak first (TLS ClientHello vs Challenge); the handshake timeout ends it.
        var serverOptions = Options();
        serverOptions.HandshakeTimeout = TimeSpan.FromMilliseconds(300);
        using var certificate = CreateSelfSignedCertificate();
        serverOptions.ServerTls = new SslServerAuthenticationOptions { ServerCertificate = certificate };
        await using var server = new TestServer(serverOptions);
        var clientOptions = Options();
        clientOptions.HandshakeTimeout = TimeSpan.FromMilliseconds(300);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => server.ConnectAsync(clientOptions));

        Assert.True(error is ConnectionLostException or TimeoutException, error.ToString());
        Assert.Empty(server.Listener.Connections);
    }

    private static X509Certificate2 CreateSelfSignedCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        // Round-tripped through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pfx), null);
    }
}
