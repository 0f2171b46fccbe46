using Analytics.EndToEnd.Tests;
using Microsoft.Playwright;

namespace Analytics.Dashboard.Tests;

/// <summary>
/// One embedded silo and one headless chromium for all the dashboard tests (starting them is
/// most of the time these tests take). The silo gets ten minutes of demo readings before the
/// first test; each test sends the events of its own metrics. Disposing kills the silo and the
/// browser, so no process or port outlives the run.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    /// <summary>Debian's chromium, installed by Tests/Browser/install.sh: Playwright's own browser download cannot reach its hosts from our machines.</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly string _data = Path.Combine(Path.GetTempPath(), "dashboard-" + Guid.NewGuid().ToString("N"));
    private IPlaywright? _playwright;

    public SiloProcess Silo { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>The demo readings of temperature, humidity and pressure: the events of each sent so far.</summary>
    public DemoFeed Demo { get; } = new();

    public string BaseUrl => $"http://127.0.0.1:{Silo.Port}";

    /// <summary>Where the run leaves its screenshots: Tests/Dashboard.Tests/TestResults/.</summary>
    public static string ResultsDirectory { get; } =
        Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../TestResults"));

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: run Tests/Browser/install.sh (test.sh does).");
        }

        Silo = await SiloProcess.StartAsync(_data);
        foreach (var batch in Demo.Backfill(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).Chunk(3000))
        {
            await SiloApi.PostAsync(Silo, batch);
        }

        await DemoSettledAsync();
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // Playwright gives each launch a fresh temporary profile (--user-data-dir) of its own.
            // Without the background-networking flags chromium keeps trying Google's hosts, whose
            // connections this machine's closed network refuses.
            Args =
            [
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
            ],
        });
        Assertions.SetDefaultExpectTimeout(15_000);
    }

    /// <summary>
    /// Sends live demo readings every 250 ms until <paramref name="stop"/>, then waits until the
    /// silo counts all of them, so the next test sees numbers that hold still.
    /// </summary>
    public async Task SendLiveDemoAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            if (Demo.Until(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) is { Count: > 0 } events)
            {
                await SiloApi.PostAsync(Silo, events);
            }

            try
            {
                await Task.Delay(250, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        await DemoSettledAsync();
    }

    private async Task DemoSettledAsync()
    {
        foreach (var (metric, count) in Demo.Counts)
        {
            await SiloApi.StatsWhenCountReachesAsync(Silo, metric, count);
        }
    }

    /// <summary>A fresh browser context (no cookies, no cache) at the given size, in UTC so clock labels do not depend on the machine.</summary>
    public Task<IBrowserContext> NewContextAsync(int width = 1280, int height = 800) =>
        Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseUrl,
            ViewportSize = new ViewportSize { Width = width, Height = height },
            Locale = "en-US",
            TimezoneId = "UTC",
        });

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (Silo is not null)
        {
            await Silo.DisposeAsync();
        }

        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFixture>
{
    public const string Name = "dashboard";
}
