using Analytics.Grains.Metrics;
using Orleans;
using Analytics.Silo.Api;

namespace Analytics.Silo.Dashboard;

/// <summary>
/// The analytics dashboard: the page at <c>/</c>, its scripts and styles under <c>/ui/</c>, and
/// the live feed it draws from (<c>/api/live</c> as Server-Sent Events, <c>/api/live/snapshot</c>
/// for polling). It reads the grains only through the same queries as the HTTP API
/// (<see cref="MetricEndpoints"/>) and depends on nothing of the runtime but
/// <see cref="IGrainFactory"/>, so it is untouched by a change of runtime under the silo.
/// </summary>
/// <remarks><c>/dashboard</c> is left free for the Orleans operations dashboard.</remarks>
public static class DashboardEndpoints
{
    public static IEndpointRouteBuilder MapAnalyticsDashboard(this IEndpointRouteBuilder app)
    {
        var assets = DashboardAssets.Load();
        app.MapGet("/", (HttpContext context) => assets.Serve(context, DashboardAssets.Page))
            .ExcludeFromDescription();
        app.MapGet("/ui/{*path}", (string? path, HttpContext context) => assets.Serve(context, path ?? ""))
            .ExcludeFromDescription();

        app.MapGet("/api/live", (string? metric, string? window, string? by, IGrainFactory grains, LocalMetrics local, TimeProvider time, IHostApplicationLifetime lifetime, ILoggerFactory loggers, HttpContext context) =>
                LiveQuery.TryParse(metric, window, by, out var query, out var error)
                    ? LiveFeed.Stream(grains, local, query, time, loggers.CreateLogger(typeof(LiveFeed)), context.RequestAborted, lifetime.ApplicationStopping)
                    : ApiError.BadRequest(error))
            .WithName("LiveStream")
            .WithSummary("Server-Sent Events: a 'snapshot' event at once and then every second, with the metric list and the chosen metric's stats, series and top sources over the window. The dashboard's live feed.");

        app.MapGet("/api/live/snapshot", async (string? metric, string? window, string? by, IGrainFactory grains, LocalMetrics local, TimeProvider time) =>
                LiveQuery.TryParse(metric, window, by, out var query, out var error)
                    ? Results.Json(await LiveFeed.BuildAsync(grains, local, query, time.GetUtcNow().ToUnixTimeMilliseconds()), ApiJson.Options)
                    : ApiError.BadRequest(error))
            .WithName("LiveSnapshot")
            .WithSummary("One snapshot of /api/live, for clients that poll instead of streaming.");
        return app;
    }
}
