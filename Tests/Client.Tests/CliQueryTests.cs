using System.Net;
using System.Net.Sockets;
using Analytics.Client.Cli;

namespace Analytics.Client.Tests;

public sealed class CliQueryTests : IAsyncLifetime
{
    private FakeSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await FakeSilo.StartAsync();

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    private Task<CliResult> Run(params string[] args) => CliHost.RunAsync([.. args, "--url", _silo.Url.ToString()]);

    [Fact]
    public async Task Stats_prints_an_aligned_listing()
    {
        CliResult result = await Run("query", "stats", "temperature");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(
            """
            metric            temperature
            window            5m (2026-11-21T09:55:00Z to 2026-11-21T10:00:00Z)
            count             1200
            sum               25320.5
            min               15.25
            max               30.5
            mean              21.1
            p50               21
            p90               25.4
            p95               27.125
            p99               29.9
            distinct sources  100
            late              3

            """.ReplaceLineEndings(),
            result.Out);
        Assert.Equal("", result.Err);
    }

    [Fact]
    public async Task Stats_of_an_empty_window_prints_dashes()
    {
        CliResult result = await Run("query", "stats", "humidity", "--window", "1h");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Contains("count             0", result.OutLines);
        Assert.Contains("min               -", result.OutLines);
        Assert.Contains("p99               -", result.OutLines);
        Assert.Equal("?window=1h", _silo.Gets.Single().Query);
    }

    [Fact]
    public async Task Top_prints_a_ranked_table()
    {
        CliResult result = await Run("query", "top", "temperature", "--k", "2", "--window", "10m");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(
            [
                "temperature, window 10m, by count",
                "#  source  count   max   mean",
                "-  ------  -----  ----  -----",
                "1  dev-7      50  30.5  24.25",
                "2  dev-3      48    29   23.5",
            ],
            result.OutLines);
        Assert.Equal("?window=10m&k=2", _silo.Gets.Single().Query);
    }

    [Fact]
    public async Task Series_prints_one_row_per_step_with_empty_steps()
    {
        CliResult result = await Run("query", "series", "temperature", "--step", "1m");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        string[] lines = result.OutLines;
        Assert.Equal("temperature, step 1m", lines[0]);
        Assert.Equal(["time", "count", "mean", "min", "max", "p50", "p99", "sum"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["2026-11-21T10:00:00Z", "10", "21.5", "20", "23", "21.4", "22.9", "215"], lines[3].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["2026-11-21T10:01:00Z", "0", "-", "-", "-", "-", "-", "-"], lines[4].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(6, lines.Length);

        // Every row has the same width: the columns line up.
        Assert.Single(lines.Skip(1).Select(l => l.Length).Distinct());
    }

    [Fact]
    public async Task Series_resolves_relative_times_against_now()
    {
        var now = new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
        CliResult result = await CliHost.RunAsync(
            new CliHost.CliSetup { Now = () => now },
            "query", "series", "temperature", "--from", "90m", "--to", "now", "--step", "5m", "--url", _silo.Url.ToString());

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal("?from=2026-11-21T10%3A30%3A00.000Z&to=2026-11-21T12%3A00%3A00.000Z&step=5m", _silo.Gets.Single().Query);
    }

    [Fact]
    public async Task Source_prints_a_header_and_a_metric_table()
    {
        CliResult result = await Run("query", "source", "dev-1");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(
            [
                "source      dev-1",
                "first seen  2026-11-21T08:00:00Z",
                "last seen   2026-11-21T10:00:00.250Z",
                "metric       last  last at                   count  min   max   mean",
                "-----------  ----  ------------------------  -----  ---  ----  -----",
                "humidity       48  2026-11-21T09:59:59Z        118   40    55   47.5",
                "temperature  21.5  2026-11-21T10:00:00.250Z    120   19  24.5  21.75",
            ],
            result.OutLines);
    }

    [Fact]
    public async Task Source_series_needs_a_metric()
    {
        CliResult missing = await Run("query", "source-series", "dev-1");
        CliResult ok = await Run("query", "source-series", "dev-1", "--metric", "temperature");

        Assert.Equal(ExitCodes.Usage, missing.ExitCode);
        Assert.Contains("--metric", missing.Err);
        Assert.Equal(ExitCodes.Ok, ok.ExitCode);
        Assert.Equal("dev-1 temperature, step 1m", ok.OutLines[0]);
        Assert.Equal("?metric=temperature", _silo.Gets.Single().Query);
    }

    [Fact]
    public async Task Metrics_lists_names_sorted()
    {
        CliResult result = await Run("query", "metrics");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(["metric", "-----------", "humidity", "temperature"], result.OutLines);
    }

    [Theory]
    [InlineData("/api/metrics/temperature/stats", "query", "stats", "temperature")]
    [InlineData("/api/metrics/temperature/top", "query", "top", "temperature")]
    [InlineData("/api/sources/dev-1", "query", "source", "dev-1")]
    [InlineData("/api/metrics", "query", "metrics")]
    [InlineData("/api/dead-letters", "dead-letters")]
    public async Task Json_prints_the_servers_answer(string path, params string[] args)
    {
        CliResult result = await Run([.. args, "--json"]);

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Equal(_silo.Answers[path] + Environment.NewLine, result.Out);
    }

    [Fact]
    public async Task Dead_letters_prints_a_table_with_escaped_data()
    {
        CliResult result = await Run("dead-letters", "--limit", "5");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        string[] lines = result.OutLines;
        Assert.Equal(["time", "queue", "sequence", "reason", "data"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["2026-11-21T10:00:01Z", "shard-0", "495903382714902566085596925383…"], lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries)[..3]);
        Assert.StartsWith("2026-11-21T09:58:00.500Z  shard-1  17 ", lines[3]);
        Assert.EndsWith("xyz\\n", lines[2]);
        Assert.EndsWith("[1,2]", lines[3]);
        Assert.Equal("2 of 7 shown, newest first", lines[^1]);
        Assert.Equal("?limit=5", _silo.Gets.Single().Query);
    }

    [Fact]
    public async Task Cluster_prints_indented_json()
    {
        CliResult result = await Run("cluster");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Contains("  \"clusterId\": \"dev\",", result.OutLines);
    }

    [Theory]
    [InlineData("query", "stats", "never-seen")]
    [InlineData("query", "stats", "never-seen", "--json")]
    [InlineData("query", "top", "never-seen")]
    [InlineData("query", "series", "never-seen")]
    [InlineData("query", "source", "dev-404")]
    [InlineData("query", "source-series", "dev-1", "--metric", "pressure")]
    public async Task Missing_metric_or_source_exits_3(params string[] args)
    {
        CliResult result = await Run(args);

        Assert.Equal(ExitCodes.NotFound, result.ExitCode);
        Assert.StartsWith("not found: ", result.Err);
        Assert.Contains("never", result.Err);
        Assert.Equal("", result.Out);
    }

    [Theory]
    [InlineData("--window: '5x' has the unit 'x'", "query", "stats", "temperature", "--window", "5x")]
    [InlineData("--window: '0m' is zero", "query", "top", "temperature", "--window", "0m")]
    [InlineData("--step: '1.5h' is not a whole number", "query", "series", "temperature", "--step", "1.5h")]
    [InlineData("--from: 'yesterday' is not a time", "query", "series", "temperature", "--from", "yesterday")]
    [InlineData("has no offset", "query", "series", "temperature", "--from", "2026-11-21T10:00:00")]
    [InlineData("must be before --to", "query", "series", "temperature", "--from", "1h", "--to", "2h")]
    [InlineData("--by must be count, max or mean, not 'median'", "query", "top", "temperature", "--by", "median")]
    [InlineData("--k must be from 1 to 1000", "query", "top", "temperature", "--k", "0")]
    [InlineData("metric 'bad name!' contains U+0020 at position 3", "query", "stats", "bad name!")]
    [InlineData("source contains the control character", "query", "source", "dev\u0001")]
    [InlineData("Required argument missing", "query", "stats")]
    [InlineData("Unrecognized command or argument 'frobnicate'", "frobnicate")]
    [InlineData("--limit must be from 1 to 1000", "dead-letters", "--limit", "0")]
    public async Task Bad_arguments_exit_2_before_any_request(string message, params string[] args)
    {
        CliResult result = await Run(args);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains(message, result.Err);
        Assert.Empty(_silo.Requests);
    }

    [Fact]
    public async Task No_command_is_a_usage_error()
    {
        CliResult result = await CliHost.RunAsync();

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("Run 'analytics --help' for usage.", result.Err);
    }

    [Fact]
    public async Task Help_lists_the_commands_and_exit_codes()
    {
        CliResult root = await CliHost.RunAsync("--help");
        CliResult query = await CliHost.RunAsync("query", "--help");

        Assert.Equal(ExitCodes.Ok, root.ExitCode);
        foreach (string command in new[] { "send", "replay", "query", "dead-letters", "cluster", "--url", "Exit codes" })
        {
            Assert.Contains(command, root.Out);
        }

        foreach (string command in new[] { "metrics", "stats", "series", "top", "source", "source-series", "--json" })
        {
            Assert.Contains(command, query.Out);
        }
    }

    [Fact]
    public async Task Server_errors_exit_1_with_the_message()
    {
        CliResult result = await Run("query", "stats", "broken");

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        Assert.Contains("answered 500: the metric grain failed: boom", result.Err);
    }

    [Fact]
    public async Task Url_comes_from_ANALYTICS_URL_when_not_given()
    {
        CliResult result = await CliHost.RunAsync(
            new CliHost.CliSetup { Environment = { ["ANALYTICS_URL"] = _silo.Url.ToString() } },
            "query", "metrics");

        Assert.Equal(ExitCodes.Ok, result.ExitCode);
        Assert.Single(_silo.Gets);
    }

    [Fact]
    public async Task Invalid_url_exits_2()
    {
        CliResult result = await CliHost.RunAsync("query", "metrics", "--url", "ftp://example.test");

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("is not an http or https URL", result.Err);
    }

    [Fact]
    public async Task Unreachable_server_exits_1()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        CliResult result = await CliHost.RunAsync("query", "metrics", "--url", $"127.0.0.1:{port}");

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        Assert.Contains($"cannot reach the analytics API at http://127.0.0.1:{port}/", result.Err);
    }
}
