using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Analytics.Dashboard.Tests;

/// <summary>
/// The page's layout at desktop and phone width, and the screenshots the run leaves in
/// Tests/Dashboard.Tests/TestResults/ (docs/dashboard.png is one of them). A silo of their own,
/// with only the demo metrics, so the pictures do not show the other tests' metrics.
/// </summary>
[Collection(ScreenshotCollection.Name)]
public sealed class ScreenshotTests(DashboardFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task The_page_fits_a_phone_width_screen()
    {
        await using var browser = await BrowserPage.OpenAsync(fixture, "/?metric=humidity", width: 390, height: 844);
        var page = browser.Page;
        await Expect(page.Locator("#view")).ToHaveAttributeAsync("data-state", "ready");
        await Expect(page.Locator("#count-chart svg")).ToBeVisibleAsync();
        await Expect(page.Locator(".tile[data-key=p99]")).ToBeVisibleAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways at 390 px");
        // Looked up and measured in one script: the chart is redrawn every second, and a handle
        // taken a moment earlier may be to the svg it replaced (detached, so 0 wide).
        var chartWidth = await page.EvaluateAsync<double>("() => document.querySelector('#count-chart svg').getBoundingClientRect().width");
        Assert.InRange(chartWidth, 240, 390);
        await Screenshot(page, "dashboard-phone.png", fullPage: true);
        browser.AssertNoErrors();
    }

    [Fact]
    public async Task A_screenshot_of_the_main_page_at_1280x800_is_written_to_the_test_results()
    {
        // Live traffic while the picture is taken, so the ingest rate and the newest bars are real.
        using var stop = new CancellationTokenSource();
        var traffic = fixture.SendLiveDemoAsync(stop.Token);
        try
        {
            await using var browser = await BrowserPage.OpenAsync(fixture, "/?metric=temperature");
            var page = browser.Page;
            await Expect(page.Locator("#view")).ToHaveAttributeAsync("data-state", "ready");
            await Expect(page.Locator("#top-sources tbody tr")).ToHaveCountAsync(10);
            await Expect(page.Locator("#ingest-rate")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[1-9]"));
            // The silo's runtime row: CPU and GC pause shares from two looks, the heap from one.
            await Expect(page.Locator("#silo-table tbody tr")).ToHaveCountAsync(1);
            await Expect(page.Locator("#silo-table tbody td:nth-child(2)")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+ %$"));
            await Expect(page.Locator("#silo-table tbody td:nth-child(3)")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+ %$"));
            await Expect(page.Locator("#silo-table tbody td:nth-child(4)")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^[1-9][\d,]* MB$"));
            // A little longer, so the rate's sparkline has a few points.
            await page.WaitForTimeoutAsync(3000);
            var path = await Screenshot(page, "dashboard.png");
            Assert.True(new FileInfo(path).Length > 10_000, "the screenshot is nearly empty");
            browser.AssertNoErrors();
        }
        finally
        {
            await stop.CancelAsync();
            await traffic;
        }
    }

    private async Task<string> Screenshot(IPage page, string name, bool fullPage = false)
    {
        Directory.CreateDirectory(DashboardFixture.ResultsDirectory);
        var path = Path.Combine(DashboardFixture.ResultsDirectory, name);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = fullPage });
        output.WriteLine($"screenshot: {path}");
        return path;
    }}

[CollectionDefinition(Name)]
public sealed class ScreenshotCollection : ICollectionFixture<DashboardFixture>
{
    public const string Name = "dashboard screenshots";
}
