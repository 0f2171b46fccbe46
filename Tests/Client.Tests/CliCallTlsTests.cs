using System.Security.Cryptography.X509Certificates;
using Analytics.Client.Cli;
using Analytics.Client.Cluster;
using Analytics.Events;

namespace Analytics.Client.Tests;

/// <summary>A silo on TLS with a self-signed cluster certificate, and one that also requires that clients present it (mutual TLS).</summary>
public sealed class TlsSilos : IAsyncLifetime
{
    public X509Certificate2 Certificate { get; } = TestCertificates.Create("analytics-cluster");

    public X509Certificate2 Other { get; } = TestCertificates.Create("someone-else");

    public TestSilo Tls { get; private set; } = null!;

    public TestSilo Mutual { get; private set; } = null!;

    public DirectoryInfo Directory { get; } = System.IO.Directory.CreateTempSubdirectory("call-tls-");

    public async Task InitializeAsync()
    {
        Tls = await TestSilo.StartAsync(new TestSiloOptions { Certificate = Certificate });
        Mutual = await TestSilo.StartAsync(new TestSiloOptions { Certificate = Certificate, RequiredClientThumbprints = new HashSet<string> { Certificate.Thumbprint } });
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1_000;
        await Tls.SeedAsync(new AnalyticsEvent("dev-1", "temperature", 21.5, now, "a"));
        await Mutual.SeedAsync(new AnalyticsEvent("dev-1", "temperature", 21.5, now, "a"));
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Tls.DisposeAsync();
        }
        finally
        {
            await Mutual.DisposeAsync();
            Certificate.Dispose();
            Other.Dispose();
            Directory.Delete(recursive: true);
        }
    }
}

/// <summary>
/// TLS between <c>analytics call</c> and the gateways. Our own runtime checked a cluster secret in
/// its handshake; Orleans has none, so these take its place: the client pins the silos' certificate
/// by thumbprint, and a silo may require the client to present the cluster certificate.
/// </summary>
public sealed class CliCallTlsTests(TlsSilos silos) : IClassFixture<TlsSilos>
{
    [Fact]
    public async Task With_the_silos_thumbprint_the_call_goes_through()
    {
        var result = await CliHost.RunAsync("call", "--gateway", silos.Tls.Gateway, "--tls-thumbprint", silos.Certificate.Thumbprint, "stats", "temperature", "--window", "1h");
        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        Assert.Contains("\"count\": 1", result.Out);
    }

    [Fact]
    public async Task The_thumbprint_may_be_written_with_colons_in_lower_case_and_come_from_the_environment()
    {
        var colons = string.Join(':', silos.Certificate.Thumbprint.ToLowerInvariant().Chunk(2).Select(c => new string(c)));
        var setup = new CliHost.CliSetup { Environment = { [CallCommands.TlsThumbprintVariable] = $"{silos.Other.Thumbprint},{colons}" } };
        var result = await CliHost.RunAsync(setup, "call", "--gateway", silos.Tls.Gateway, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        Assert.Contains("temperature", result.Out);
    }

    [Fact]
    public async Task Another_certificate_than_the_pinned_one_fails_the_connection_and_says_why()
    {
        var result = await CliHost.RunAsync("call", "--connect-timeout", "3s", "--gateway", silos.Tls.Gateway, "--tls-thumbprint", silos.Other.Thumbprint, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.Contains("did not authenticate each other", result.Err);
        Assert.Contains($"thumbprint {silos.Certificate.Thumbprint}, which is not pinned (expected {silos.Other.Thumbprint})", result.Err);
    }

    [Fact]
    public async Task Without_TLS_a_TLS_gateway_cannot_be_used_and_the_error_points_to_the_thumbprint()
    {
        var result = await CliHost.RunAsync("call", "--connect-timeout", "3s", "--gateway", silos.Tls.Gateway, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.Contains("--tls-thumbprint", result.Err);
    }

    [Fact]
    public async Task With_TLS_a_plain_gateway_cannot_be_used()
    {
        await using var plain = await TestSilo.StartAsync();
        var result = await CliHost.RunAsync("call", "--connect-timeout", "3s", "--gateway", plain.Gateway, "--tls-thumbprint", silos.Certificate.Thumbprint, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.StartsWith("error: No gateway of", result.Err);
        Assert.Contains("if they do not use TLS, leave out --tls-thumbprint", result.Err);
    }

    [Fact]
    public async Task A_silo_that_requires_the_cluster_certificate_accepts_a_client_presenting_it()
    {
        var path = TestCertificates.WritePfx(silos.Certificate, silos.Directory.FullName, "pfx-password");
        var setup = new CliHost.CliSetup { Environment = { [CallOptions.TlsCertificatePasswordVariable] = "pfx-password" } };
        var result = await CliHost.RunAsync(setup, "call", "--gateway", silos.Mutual.Gateway, "--tls-thumbprint", silos.Certificate.Thumbprint, "--tls-certificate", path, "source", "dev-1");
        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        Assert.Contains("temperature", result.Out);
    }

    [Fact]
    public async Task A_silo_that_requires_the_cluster_certificate_refuses_a_client_without_it()
    {
        var result = await CliHost.RunAsync("call", "--connect-timeout", "3s", "--gateway", silos.Mutual.Gateway, "--tls-thumbprint", silos.Certificate.Thumbprint, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.StartsWith("error: No gateway of", result.Err);
        Assert.Contains("pass the cluster's with --tls-certificate", result.Err);
    }

    [Fact]
    public async Task A_silo_that_requires_the_cluster_certificate_refuses_another_one()
    {
        await using var client = new AnalyticsClusterClient(new AnalyticsClusterClientOptions
        {
            Gateways = [silos.Mutual.Gateway],
            TlsThumbprints = [silos.Certificate.Thumbprint],
            ClientCertificate = silos.Other,
            ConnectTimeout = TimeSpan.FromSeconds(3),
        });
        var failure = await Assert.ThrowsAsync<Orleans.Runtime.SiloUnavailableException>(() => client.ConnectAsync());
        Assert.Contains("No gateway of", failure.Message);
    }
}
