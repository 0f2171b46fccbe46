using System.Runtime.CompilerServices;

namespace Analytics.Silo.Api;

/// <summary>
/// With <c>Http:InlineQueries</c>, Kestrel runs requests on the socket's I/O thread instead of
/// queueing them to the thread pool; this keeps that thread for the work that is quick and leaves
/// it for everything else.
/// </summary>
/// <remarks>
/// While a batch is ingested the pool's queues hold milliseconds of grain work, and a request
/// queued behind them waits that long before the API sees it: that wait, not the query, was most
/// of a metric query's latency under load (PERFORMANCE.md, issue 14). A metric or source query
/// reads an active grain in place (LocalMetrics) or sends one grain call, a fraction of a
/// millisecond either way, so it runs where its bytes arrived. Anything that parses a body or
/// fans out goes to the pool first, so the I/O thread never stalls the other connections. A
/// thread that is not a pool thread is the I/O thread; on a pool thread there is nothing to leave.
/// </remarks>
public static class IoThreadOffload
{
    public static WebApplication UseIoThreadOffload(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            if (!Thread.CurrentThread.IsThreadPoolThread && !IsQuickQuery(context.Request))
            {
                await Task.Yield();
            }

            await next(context);
        });
        return app;
    }

    /// <summary>Leaves the I/O thread if on it: for work that follows an await on the request's own I/O (a body read resumes there).</summary>
    public static YieldAwaitable LeaveIoThread() => Thread.CurrentThread.IsThreadPoolThread ? default : Task.Yield();

    private static bool IsQuickQuery(HttpRequest request) =>
        HttpMethods.IsGet(request.Method)
        && (request.Path.StartsWithSegments("/api/metrics", StringComparison.Ordinal) || request.Path.StartsWithSegments("/api/sources", StringComparison.Ordinal));
}
