using System.Diagnostics;
using System.Globalization;

namespace Analytics.Silo.Api;

/// <summary>
/// Adds <c>Server-Timing: app;dur=…</c> (milliseconds, from the request reaching the API to its
/// answer starting) to every answer under <c>/api/</c>. Browsers show it in their developer tools,
/// and a client can tell the time the silo took from the time the network and its own process took.
/// </summary>
public static class ServerTiming
{
    public static WebApplication UseServerTiming(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal))
            {
                var started = Stopwatch.GetTimestamp();
                context.Response.OnStarting(() =>
                {
                    var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    context.Response.Headers["Server-Timing"] = "app;dur=" + ms.ToString("0.###", CultureInfo.InvariantCulture);
                    return Task.CompletedTask;
                });
            }

            return next(context);
        });
        return app;
    }
}
