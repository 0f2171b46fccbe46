using Analytics.Client.Cli;
using Analytics.Client.Cluster;

namespace Analytics.Client.Tests;

/// <summary>
/// <c>analytics call</c>: argument errors, unreachable gateways and the retired cluster secret, in
/// process and without a silo. The calls that reach a real silo are in <see cref="CliCallClusterTests"/>
/// and <see cref="CliCallTlsTests"/>.
/// </summary>
public sealed class CliCallTests
{
    [Fact]
    public async Task Without_a_gateway_it_is_a_usage_error()
    {
        var result = await CliHost.RunAsync("call", "stats", "temperature");
        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("--gateway", result.Err);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1:notaport")]
    [InlineData("127.0.0.1:70000")]
    public async Task A_gateway_that_is_not_host_and_port_is_a_usage_error(string gateway)
    {
        var result = await CliHost.RunAsync("call", "--gateway", gateway, "stats", "temperature");
        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains("host:port", result.Err);
    }

    [Theory]
    [InlineData("not-a-thumbprint")]
    [InlineData("0123456789ABCDEF0123456789ABCDEF0123456")]
    public async Task A_thumbprint_that_is_not_40_hex_digits_is_a_usage_error(string thumbprint)
    {
        var result = await CliHost.RunAsync("call", "--gateway", "127.0.0.1:30000", "--tls-thumbprint", thumbprint, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains("40 hex digits", result.Err);
    }

    [Fact]
    public async Task When_no_gateway_answers_it_says_so_and_fails()
    {
        var result = await CliHost.RunAsync("call", "--connect-timeout", "3s", "--gateway", $"127.0.0.1:{TestPorts.FreePort()}", "--gateway", $"127.0.0.1:{TestPorts.FreePort()}", "stats", "temperature");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.Contains("No gateway of", result.Err);
        Assert.Contains("not delivered", result.Err);
        Assert.Contains("--tls-thumbprint", result.Err);
    }

    // Our own runtime refused a secret under 16 characters; Orleans has no cluster secret, so the
    // option is retired: any secret is ignored with a warning that points to TLS, and the command goes on.
    [Fact]
    public async Task A_cluster_secret_is_ignored_with_a_warning_that_it_is_retired_in_favour_of_TLS()
    {
        var result = await CliHost.RunAsync("call", "--connect-timeout", "3s", "--gateway", $"127.0.0.1:{TestPorts.FreePort()}", "--cluster-secret", "short", "metrics");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.Contains(AnalyticsClusterClientOptions.ClusterSecretRetired, result.Err);
        Assert.Contains("mutual TLS", result.Err);
        Assert.Contains("No gateway of", result.Err);
    }

    [Fact]
    public async Task The_secret_comes_from_the_environment_when_not_given_and_is_ignored_too()
    {
        var setup = new CliHost.CliSetup { Environment = { [CallCommands.SecretVariable] = "a-secret-of-enough-length" } };
        var result = await CliHost.RunAsync(setup, "call", "--connect-timeout", "3s", "--gateway", $"127.0.0.1:{TestPorts.FreePort()}", "metrics");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.Contains("retired", result.Err);
    }

    [Fact]
    public async Task Without_a_secret_there_is_no_warning()
    {
        var result = await CliHost.RunAsync("call", "--connect-timeout", "3s", "--gateway", $"127.0.0.1:{TestPorts.FreePort()}", "metrics");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.DoesNotContain("retired", result.Err);
    }

    [Fact]
    public async Task A_client_certificate_without_TLS_is_a_usage_error()
    {
        using var certificate = TestCertificates.Create("analytics-client");
        var directory = Directory.CreateTempSubdirectory("call-tests-");
        try
        {
            var path = TestCertificates.WritePfx(certificate, directory.FullName, "");
            var result = await CliHost.RunAsync("call", "--gateway", "127.0.0.1:30000", "--tls-certificate", path, "metrics");
            Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
            Assert.Contains("--tls-thumbprint", result.Err);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task An_unreadable_client_certificate_is_a_usage_error()
    {
        var path = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.pfx");
        var result = await CliHost.RunAsync("call", "--gateway", "127.0.0.1:30000", "--tls-thumbprint", new string('A', 40), "--tls-certificate", path, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains("--tls-certificate", result.Err);
    }

    [Fact]
    public async Task The_library_writes_the_secret_warning_to_the_given_writer()
    {
        var warnings = new StringWriter();
        await using var client = new AnalyticsClusterClient(new AnalyticsClusterClientOptions
        {
            Gateways = ["127.0.0.1:30000"],
            ClusterSecret = "anything",
            Warnings = warnings,
        });
        Assert.Contains(AnalyticsClusterClientOptions.ClusterSecretRetired, warnings.ToString());
        Assert.Throws<InvalidOperationException>(() => client.GrainFactory);
    }
}
