using System.Globalization;
using Analytics.EndToEnd.Tests;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Analytics.Dashboard.Tests;

/// <summary>The dashboard as a person sees it, in chromium, against a real silo.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task The_page_lists_the_metrics_that_were_sent_and_a_tiles_count_equals_the_api_stats_count()
    {
        await using var browser = await BrowserPage.OpenAsync(fixture, "/?metric=temperature&window=1h");
        var page = browser.Page;

        var links = page.Locator("#metric-list a");
        foreach (var metric in DemoFeed.Metrics.Select(m => m.Metric))
        {
            await Expect(links.GetByText(metric, new() { Exact = true })).ToBeVisibleAsync();
        }

        await Expect(page.Locator("#view")).ToHaveAttributeAsync("data-state", "ready");
        // The demo events are all within the hour, so the 1h count holds still while we compare.
        var stats = (await SiloApi.GetAsync(fixture.Silo, "/api/metrics/temperature/stats?window=1h"))!;
        var count = (long)stats["count"]!;
        Assert.Equal(fixture.Demo.Counts["temperature"], count);
        var tile = page.Locator(".tile[data-key=count] .tile-value");
        await Expect(tile).ToHaveAttributeAsync("data-value", count.ToString(CultureInfo.InvariantCulture));
        await Expect(tile).ToHaveTextAsync(count.ToString("N0", CultureInfo.InvariantCulture));
        await Expect(page.Locator(".tile[data-key=distinctSources] .tile-value")).ToHaveTextAsync(((long)stats["distinctSources"]!).ToString(CultureInfo.InvariantCulture));
        await Expect(page.Locator("#live-status")).ToHaveAttributeAsync("data-state", "live");

        // Everything the page loaded came from the silo: no CDN, no other host.
        Assert.All(browser.Requests, url => Assert.StartsWith(fixture.BaseUrl + "/", url));
        browser.AssertNoErrors();
    }

    [Fact]
    public async Task A_chart_updates_when_new_events_arrive_without_a_reload()
    {
        const string metric = "dash.live";
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await SiloApi.PostAsync(fixture.Silo, Enumerable.Range(0, 5).Select(i => DemoFeed.Event("dev-1", metric, 10 + i, now - 1000 * i, $"live-a{i}")));
        await SiloApi.StatsWhenCountReachesAsync(fixture.Silo, metric, 5);

        await using var browser = await BrowserPage.OpenAsync(fixture, $"/?metric={metric}");
        var page = browser.Page;
        var chart = page.Locator("#count-chart svg");
        await Expect(chart).ToHaveAttributeAsync("data-total", "5");
        await page.EvaluateAsync("() => { window.__sameDocument = true; }");

        now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await SiloApi.PostAsync(fixture.Silo, Enumerable.Range(0, 7).Select(i => DemoFeed.Event("dev-2", metric, 20 + i, now - 500 * i, $"live-b{i}")));

        await Expect(chart).ToHaveAttributeAsync("data-total", "12");
        await Expect(page.Locator(".tile[data-key=count] .tile-value")).ToHaveAttributeAsync("data-value", "12");
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page reloaded");
        browser.AssertNoErrors();
    }

    [Fact]
    public async Task Top_sources_link_to_the_source_page_which_shows_that_sources_last_value()
    {
        const string metric = "dash.top";
        const string odd = "rack 7/dev#3 ü";
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await SiloApi.PostAsync(fixture.Silo, [
            DemoFeed.Event("dev-1", metric, 40, now - 3000, "top-1"),
            DemoFeed.Event("dev-1", metric, 41, now - 2000, "top-2"),
            DemoFeed.Event("dev-1", metric, 42.5, now - 1000, "top-3"),
            DemoFeed.Event("dev-2", metric, 7, now - 1500, "top-4"),
            DemoFeed.Event(odd, metric, 1, now - 1500, "top-5"),
        ]);
        await SiloApi.StatsWhenCountReachesAsync(fixture.Silo, metric, 5);

        await using var browser = await BrowserPage.OpenAsync(fixture, $"/?metric={metric}");
        var page = browser.Page;
        var rows = page.Locator("#top-sources tbody tr");
        await Expect(rows).ToHaveCountAsync(3);
        await Expect(rows.First.Locator("a")).ToHaveTextAsync("dev-1");
        // Ids are percent-encoded in links, whatever they hold.
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = odd, Exact = true })).ToHaveAttributeAsync("href", "/?source=" + Uri.EscapeDataString(odd));

        await rows.First.Locator("a").ClickAsync();
        await Expect(page).ToHaveURLAsync(fixture.BaseUrl + "/?source=dev-1");
        await Expect(page.Locator("#source-title")).ToHaveTextAsync("dev-1");
        var last = page.Locator($".last-value[data-metric=\"{metric}\"]");
        await Expect(last).ToHaveTextAsync("42.5");
        await Expect(last).ToHaveAttributeAsync("data-value", "42.5");
        browser.AssertNoErrors();
    }

    [Fact]
    public async Task A_metric_that_does_not_exist_shows_the_not_found_state()
    {
        await using var browser = await BrowserPage.OpenAsync(fixture, "/?metric=never.seen");
        var page = browser.Page;
        await Expect(page.Locator("#view")).ToHaveAttributeAsync("data-state", "not-found");
        var card = page.Locator(".state-card[data-state=not-found]");
        await Expect(card).ToContainTextAsync("never.seen");
        await Expect(card).ToContainTextAsync("has never been seen");
        // It offers the metrics that do exist.
        await Expect(card.GetByRole(AriaRole.Link, new() { Name = "temperature", Exact = true })).ToBeVisibleAsync();
        await Expect(page.Locator(".tiles")).ToBeHiddenAsync();
        browser.AssertNoErrors();
    }

    [Fact]
    public async Task A_silo_that_answers_503_shows_the_error_and_the_page_recovers_when_it_answers_again()
    {
        const string message = "The silo has not joined the cluster yet.";
        await using var browser = await BrowserPage.OpenAsync(fixture, "/?metric=temperature", beforeLoad: page =>
            page.RouteAsync("**/api/live**", route => route.FulfillAsync(new RouteFulfillOptions
            {
                Status = 503,
                ContentType = "application/json",
                Body = $"{{\"error\":\"{message}\"}}",
            })));
        var page = browser.Page;
        var banner = page.Locator("#banner");
        await Expect(banner).ToBeVisibleAsync();
        await Expect(banner).ToHaveAttributeAsync("data-status", "503");
        await Expect(banner).ToContainTextAsync(message);
        await Expect(page.Locator("#live-status")).ToHaveTextAsync("Error 503");

        await page.UnrouteAllAsync();
        await Expect(banner).ToBeHiddenAsync();
        await Expect(page.Locator("#view")).ToHaveAttributeAsync("data-state", "ready");
        browser.AssertNoErrors("503", "text/event-stream");
    }

    [Fact]
    public async Task When_the_stream_is_refused_the_page_polls_and_still_updates()
    {
        const string metric = "dash.poll";
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await SiloApi.PostAsync(fixture.Silo, [DemoFeed.Event("dev-1", metric, 1, now - 1000, "poll-1")]);
        await SiloApi.StatsWhenCountReachesAsync(fixture.Silo, metric, 1);

        // As a proxy that does not pass event streams would: every /api/live request fails.
        await using var browser = await BrowserPage.OpenAsync(fixture, $"/?metric={metric}", beforeLoad: page =>
            page.RouteAsync(url => new Uri(url).AbsolutePath == "/api/live", route => route.AbortAsync()));
        var page = browser.Page;
        await Expect(page.Locator("#live-status")).ToHaveAttributeAsync("data-state", "polling");
        var chart = page.Locator("#count-chart svg");
        await Expect(chart).ToHaveAttributeAsync("data-total", "1");

        now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await SiloApi.PostAsync(fixture.Silo, [DemoFeed.Event("dev-1", metric, 2, now, "poll-2"), DemoFeed.Event("dev-2", metric, 3, now, "poll-3")]);
        await Expect(chart).ToHaveAttributeAsync("data-total", "3");
        await Expect(page.Locator("#banner")).ToBeHiddenAsync();
        browser.AssertNoErrors("ERR_FAILED");
    }
}
