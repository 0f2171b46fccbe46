using System.Text.Json.Nodes;
using Analytics.EndToEnd.Tests;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Analytics.Dashboard.Tests;

/// <summary>
/// The Orleans Dashboard that every silo serves at /dashboard on its HTTP port, beside our own
/// page: it loads in chromium from the silo alone, and its counters list this silo and the
/// analytics grains with their activations and calls.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class OrleansDashboardTests(DashboardFixture fixture)
{
    [Fact]
    public async Task The_Orleans_dashboard_loads_and_its_counters_show_the_silo_and_the_analytics_grains()
    {
        await using var browser = await BrowserPage.OpenAsync(fixture, "/dashboard/", beforeLoad: page =>
        {
            // The page polls its counters as soon as its script runs: catch the first answer.
            _counters = page.WaitForResponseAsync(response => response.Url.Contains("/dashboard/DashboardCounters", StringComparison.Ordinal), new() { Timeout = 30_000 });
            return Task.CompletedTask;
        });

        await Expect(browser.Page).ToHaveTitleAsync("Orleans Dashboard");
        var response = await _counters!;
        Assert.Equal(200, response.Status);
        var counters = JsonNode.Parse(await response.TextAsync())!;

        var host = Assert.Single(counters["hosts"]!.AsArray())!;
        Assert.Equal("Active", (string?)host["status"]);
        var grainTypes = counters["simpleGrainStats"]!.AsArray().Select(s => (string?)s!["grainType"]).ToHashSet();
        Assert.Contains("Analytics.Grains.Metrics.MetricGrain", grainTypes);
        Assert.Contains("Analytics.Grains.Sources.SourceGroupGrain", grainTypes);

        // Everything it loaded came from the silo itself: it works without the internet.
        Assert.All(browser.Requests, url => Assert.StartsWith(fixture.BaseUrl + "/", url));
    }

    private Task<IResponse>? _counters;
}
