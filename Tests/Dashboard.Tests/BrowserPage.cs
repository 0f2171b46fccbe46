using Microsoft.Playwright;

namespace Analytics.Dashboard.Tests;

/// <summary>A page of the dashboard in its own browser context, with what it logged and requested kept for the checks.</summary>
internal sealed class BrowserPage : IAsyncDisposable
{
    private readonly List<string> _errors = [];
    private readonly List<string> _requests = [];

    private BrowserPage(IBrowserContext context, IPage page)
    {
        Context = context;
        Page = page;
        page.PageError += (_, error) => Add(_errors, $"page error: {error}");
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                Add(_errors, $"console error: {message.Text}");
            }
        };
        page.Request += (_, request) => Add(_requests, request.Url);
    }

    public IBrowserContext Context { get; }

    public IPage Page { get; }

    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public static async Task<BrowserPage> OpenAsync(DashboardFixture fixture, string path, int width = 1280, int height = 800, Func<IPage, Task>? beforeLoad = null)
    {
        var context = await fixture.NewContextAsync(width, height);
        var page = new BrowserPage(context, await context.NewPageAsync());
        if (beforeLoad is not null)
        {
            await beforeLoad(page.Page);
        }

        await page.Page.GotoAsync(path);
        return page;
    }

    /// <summary>No script error and no failed load, except messages containing one of <paramref name="expected"/>.</summary>
    public void AssertNoErrors(params string[] expected)
    {
        string[] unexpected;
        lock (_errors)
        {
            unexpected = _errors.Where(e => !expected.Any(e.Contains)).ToArray();
        }

        Assert.True(unexpected.Length == 0, "The page logged errors:\n" + string.Join("\n", unexpected));
    }

    public async ValueTask DisposeAsync() => await Context.CloseAsync();

    private static void Add(List<string> list, string item)
    {
        lock (list)
        {
            list.Add(item);
        }
    }
}
