using System.Net;
using System.Net.Sockets;
using Analytics.Client.Cli;
using Analytics.Runtime.Testing;

namespace Analytics.Client.Tests;

/// <summary>
/// <c>analytics call</c>: argument errors and unreachable gateways, in process. The calls that
/// reach real silos (fail-over, a wrong secret) run in EndToEnd.Tests' ClusterFailoverTests.
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

    [Fact]
    public async Task A_secret_too_short_to_be_a_cluster_secret_is_a_usage_error()
    {
        var result = await CliHost.RunAsync("call", "--gateway", "127.0.0.1:30000", "--cluster-secret", "short", "metrics");
        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains("16 characters", result.Err);
    }

    [Fact]
    public async Task When_no_gateway_answers_it_says_so_and_fails()
    {
        var result = await CliHost.RunAsync("call", "--gateway", $"127.0.0.1:{TestPorts.FreePort()}", "--gateway", $"127.0.0.1:{TestPorts.FreePort()}", "stats", "temperature");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.Contains("No gateway of", result.Err);
        Assert.Contains("not delivered", result.Err);
    }

    [Fact]
    public async Task The_secret_comes_from_the_environment_when_not_given()
    {
        var setup = new CliHost.CliSetup { Environment = { [CallCommands.SecretVariable] = "short" } };
        var result = await CliHost.RunAsync(setup, "call", "--gateway", "127.0.0.1:30000", "metrics");
        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains("16 characters", result.Err);
    }
}
