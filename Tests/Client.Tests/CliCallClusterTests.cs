using System.Text.Json;
using Analytics.Client.Cli;
using Analytics.Client.Cluster;
using Analytics.Events;
using Analytics.Grains;
using Grains = Analytics.Grains;

namespace Analytics.Client.Tests;

/// <summary>One plain (no TLS) silo with a few seeded events, shared by the tests of a class.</summary>
public sealed class SeededSilo : IAsyncLifetime
{
    public TestSilo Silo { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Silo = await TestSilo.StartAsync();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 2_000;
        await Silo.SeedAsync(
            new AnalyticsEvent("dev-1", "temperature", 20, now, "a"),
            new AnalyticsEvent("dev-1", "temperature", 22, now + 1, "b"),
            new AnalyticsEvent("dev-2", "temperature", 30, now + 2, "c"),
            new AnalyticsEvent("dev-2", "humidity", 40, now + 3, "d"));
    }

    public async Task DisposeAsync() => await Silo.DisposeAsync();
}

/// <summary><c>analytics call</c> and <see cref="AnalyticsClusterClient"/> against a real Orleans silo running the analytics grains.</summary>
public sealed class CliCallClusterTests(SeededSilo fixture) : IClassFixture<SeededSilo>
{
    private TestSilo Silo => fixture.Silo;

    [Fact]
    public async Task Stats_prints_the_metric_grains_aggregates_as_JSON()
    {
        var result = await CliHost.RunAsync("call", "--gateway", Silo.Gateway, "stats", "temperature", "--window", "1h");
        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        using var json = JsonDocument.Parse(result.Out);
        Assert.Equal(3, json.RootElement.GetProperty("count").GetInt64());
        Assert.Equal(72, json.RootElement.GetProperty("sum").GetDouble());
        Assert.Equal(20, json.RootElement.GetProperty("min").GetDouble());
        Assert.Equal(30, json.RootElement.GetProperty("max").GetDouble());
        Assert.Equal(2, json.RootElement.GetProperty("distinctSources").GetInt64());
        Assert.Equal("", result.Err);
    }

    [Fact]
    public async Task Source_prints_the_source_grains_summary_as_JSON()
    {
        var result = await CliHost.RunAsync("call", "--gateway", Silo.Gateway, "source", "dev-2", "--window", "1h");
        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        using var json = JsonDocument.Parse(result.Out);
        var metrics = json.RootElement.GetProperty("metrics");
        Assert.Equal(30, metrics.GetProperty("temperature").GetProperty("last").GetDouble());
        Assert.Equal(40, metrics.GetProperty("humidity").GetProperty("last").GetDouble());
    }

    [Fact]
    public async Task Metrics_lists_the_catalog()
    {
        await Silo.Grains.GetGrain<IMetricCatalogGrain>("all").Add("pressure");
        var result = await CliHost.RunAsync("call", "--gateway", Silo.Gateway, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        var names = JsonSerializer.Deserialize<string[]>(result.Out)!;
        Assert.Contains("temperature", names);
        Assert.Contains("humidity", names);
        Assert.Contains("pressure", names);
    }

    [Fact]
    public async Task A_metric_never_seen_is_not_found()
    {
        var result = await CliHost.RunAsync("call", "--gateway", Silo.Gateway, "stats", "never-seen");
        Assert.True(result.ExitCode == ExitCodes.NotFound, result.ToString());
        Assert.Contains("no such metric: never-seen", result.Err);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task A_source_never_seen_is_not_found()
    {
        var result = await CliHost.RunAsync("call", "--gateway", Silo.Gateway, "source", "nobody");
        Assert.True(result.ExitCode == ExitCodes.NotFound, result.ToString());
        Assert.Contains("no such source: nobody", result.Err);
    }

    [Fact]
    public async Task A_window_longer_than_the_history_kept_is_refused_by_the_grain_as_a_usage_error()
    {
        var result = await CliHost.RunAsync("call", "--gateway", Silo.Gateway, "stats", "temperature", "--window", "60d");
        Assert.True(result.ExitCode == ExitCodes.Usage, result.ToString());
        Assert.Contains("error: the cluster refused the query: window 60d is longer than", result.Err);
    }

    [Fact]
    public async Task A_gateway_that_does_not_answer_is_passed_over_for_one_that_does()
    {
        var dead = $"127.0.0.1:{TestPorts.FreePort()}";
        var result = await CliHost.RunAsync("call", "--gateway", dead, "--gateway", Silo.Gateway, "stats", "temperature", "--window", "1h");
        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        Assert.Contains("\"count\": 3", result.Out);
    }

    [Fact]
    public async Task A_secret_is_ignored_with_a_warning_and_the_call_still_works()
    {
        var result = await CliHost.RunAsync("call", "--cluster-secret", "a-secret-of-enough-length", "--gateway", Silo.Gateway, "metrics");
        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        Assert.Contains("retired", result.Err);
    }

    [Fact]
    public async Task Another_cluster_id_is_refused_with_a_clear_error()
    {
        var result = await CliHost.RunAsync("call", "--connect-timeout", "3s", "--gateway", Silo.Gateway, "--cluster-id", "another-cluster", "metrics");
        Assert.True(result.ExitCode == ExitCodes.Failed, result.ToString());
        Assert.Contains("--cluster-id", result.Err);
    }

    [Fact]
    public async Task The_library_answers_with_the_grains_own_types()
    {
        await using var client = new AnalyticsClusterClient([Silo.Gateway], clusterSecret: null);
        await client.ConnectAsync();
        var top = await client.GetTopAsync("temperature", TimeSpan.FromHours(1), 1, Grains.TopOrder.Max);
        Assert.Equal("dev-2", Assert.Single(top!.Items).Source);
        Assert.Null(await client.GetStatsAsync("never-seen", TimeSpan.FromMinutes(5)));
        Assert.Null(await client.GetSourceAsync("nobody", TimeSpan.FromMinutes(5)));
        Assert.Contains("humidity", await client.ListMetricsAsync());
        var summary = await client.GrainFactory.GetGrain<ISourceGrain>("dev-1").GetSummary(TimeSpan.FromHours(1));
        Assert.Equal(2, summary!.Metrics["temperature"].Count);
    }

    [Fact]
    public async Task The_library_connects_by_itself_at_the_first_query()
    {
        await using var client = new AnalyticsClusterClient(new AnalyticsClusterClientOptions { Gateways = [Silo.Gateway] });
        var stats = await client.GetStatsAsync("humidity", TimeSpan.FromHours(1));
        Assert.Equal(1, stats!.Count);
    }
}
