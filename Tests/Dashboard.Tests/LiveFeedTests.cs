using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Analytics.EndToEnd.Tests;

namespace Analytics.Dashboard.Tests;

/// <summary>The dashboard's server side over plain HTTP: the live feed, its refusals, and the files of the page.</summary>
[Collection(DashboardCollection.Name)]
public sealed class LiveFeedTests(DashboardFixture fixture)
{
    [Fact]
    public async Task The_stream_sends_a_snapshot_at_once_and_every_second_with_the_apis_numbers()
    {
        using var response = await fixture.Silo.Http.GetAsync("/api/live?metric=temperature&window=1h&by=max", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await using var stream = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(stream);

        var clock = Stopwatch.StartNew();
        var snapshots = new List<JsonObject>();
        while (snapshots.Count < 3)
        {
            snapshots.Add(await ReadSnapshotAsync(reader));
        }

        // Three snapshots: one at once, then one a second.
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.5, 6);
        var snapshot = snapshots[^1];
        Assert.Equal("temperature", (string?)snapshot["metric"]);
        Assert.Equal("1h", (string?)snapshot["window"]);
        Assert.Equal("1m", (string?)snapshot["step"]);
        Assert.Equal(60, snapshot["series"]!["points"]!.AsArray().Count);
        Assert.Contains("temperature", snapshot["metrics"]!.AsArray().Select(m => (string?)m));
        Assert.Null(snapshot["notFound"]);

        // The same numbers as the API's own endpoints.
        var stats = (await SiloApi.GetAsync(fixture.Silo, "/api/metrics/temperature/stats?window=1h"))!;
        Assert.Equal((long)stats["count"]!, (long)snapshot["stats"]!["count"]!);
        Assert.Equal((double)stats["max"]!, (double)snapshot["stats"]!["max"]!);
        Assert.Equal(fixture.Demo.Counts["temperature"], (long)stats["count"]!);
        Assert.Equal((long)stats["count"]!, snapshot["series"]!["points"]!.AsArray().Sum(p => (long)p!["count"]!));
        var top = (await SiloApi.GetAsync(fixture.Silo, "/api/metrics/temperature/top?window=1h&by=max"))!;
        Assert.Equal(top["items"]!.ToJsonString(), snapshot["top"]!["items"]!.ToJsonString());
    }

    [Theory]
    [InlineData("window=7x", "window")]
    [InlineData("by=median", "by must be count, max or mean")]
    [InlineData("metric=bad%20metric!", "metric")]
    public async Task Bad_parameters_are_refused_with_400_before_any_stream(string query, string message)
    {
        foreach (var path in new[] { "/api/live?", "/api/live/snapshot?" })
        {
            using var response = await fixture.Silo.Http.GetAsync(path + query);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(message, (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]);
        }
    }

    [Fact]
    public async Task A_snapshot_of_a_metric_never_seen_says_so_and_lists_the_known_ones()
    {
        var snapshot = (await SiloApi.GetAsync(fixture.Silo, "/api/live/snapshot?metric=never.seen"))!;
        Assert.Equal("Metric 'never.seen' has never been seen.", (string?)snapshot["notFound"]);
        Assert.Null(snapshot["stats"]);
        Assert.Contains("humidity", snapshot["metrics"]!.AsArray().Select(m => (string?)m));

        var list = (await SiloApi.GetAsync(fixture.Silo, "/api/live/snapshot"))!;
        Assert.Null(list["metric"]);
        Assert.Equal("5m", (string?)list["window"]);
        Assert.Equal("10s", (string?)list["step"]);
    }

    [Fact]
    public async Task The_page_and_its_files_come_from_the_silo_with_etags_and_a_same_origin_policy()
    {
        using var page = await fixture.Silo.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        var html = await page.Content.ReadAsStringAsync();
        Assert.DoesNotMatch("(src|href)=\"(https?:)?//", html);

        using var script = await fixture.Silo.Http.GetAsync("/ui/app.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        var etag = script.Headers.ETag!;
        using var again = new HttpRequestMessage(HttpMethod.Get, "/ui/app.js");
        again.Headers.IfNoneMatch.Add(etag);
        using var notModified = await fixture.Silo.Http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        using var missing = await fixture.Silo.Http.GetAsync("/ui/nothing.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("nothing.js", (string?)JsonNode.Parse(await missing.Content.ReadAsStringAsync())!["error"]);
    }

    [Fact]
    public async Task An_open_stream_does_not_hold_up_a_graceful_stop()
    {
        var data = Path.Combine(Path.GetTempPath(), "dashboard-stop-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var silo = await SiloProcess.StartAsync(data);
            using var response = await silo.Http.GetAsync("/api/live", HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            await ReadSnapshotAsync(reader);

            // The host waits for requests in flight up to its shutdown timeout (25 s): the stream
            // must end on SIGTERM instead of keeping the silo up that long.
            var clock = Stopwatch.StartNew();
            Assert.Equal(0, await silo.TerminateAsync(TimeSpan.FromSeconds(20)));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"the silo took {clock.Elapsed.TotalSeconds:0.0} s to stop with a stream open");
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    /// <summary>Reads one "snapshot" event of the stream (within 5 s) and parses its data.</summary>
    private static async Task<JsonObject> ReadSnapshotAsync(StreamReader reader)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        string? type = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                Assert.Equal("snapshot", type);
                return JsonNode.Parse(line["data: ".Length..])!.AsObject();
            }
        }

        throw new Xunit.Sdk.XunitException("the stream ended before a snapshot");
    }
}
