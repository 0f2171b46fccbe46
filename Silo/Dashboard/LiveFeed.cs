using System.Runtime.CompilerServices;
using System.Text.Json;
using Analytics.Events;
using Analytics.Grains.Metrics;
using Orleans;
using Analytics.Silo.Api;
using static Analytics.Silo.Api.MetricEndpoints;

namespace Analytics.Silo.Dashboard;

/// <summary>
/// The dashboard's numbers: one snapshot of everything the main page shows for a metric, built
/// from the same queries as the HTTP API, pushed once a second over Server-Sent Events or fetched
/// by a polling client.
/// </summary>
internal static partial class LiveFeed
{
    /// <summary>The page must update at least once a second.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <param name="NotFound">The not-found message when the metric has never been seen (the stream goes on: the metric may appear).</param>
    public sealed record Snapshot(string Time, IReadOnlyList<string> Metrics, string? Metric, string Window, string Step, string By,
        StatsResponse? Stats, MetricSeriesResponse? Series, TopResponse? Top, string? NotFound);

    public static async Task<Snapshot> BuildAsync(IGrainFactory grains, LocalMetrics local, LiveQuery query, long nowMs)
    {
        var metrics = ListAsync(grains);
        var window = DurationParser.Format(query.Window);
        var step = DurationParser.Format(query.Step);
        var by = query.By.ToString().ToLowerInvariant();
        if (query.Metric is not { } metric)
        {
            return new Snapshot(TimestampParser.Format(nowMs), Names(await metrics), null, window, step, by, null, null, null, null);
        }

        var (fromMs, toMs) = query.Range(nowMs);
        var stats = QueryStatsAsync(grains, local, metric, query.Window);
        var series = QuerySeriesAsync(grains, local, metric, fromMs, toMs, query.Step);
        var top = QueryTopAsync(grains, local, metric, query.Window, LiveQuery.TopCount, query.By);
        await Task.WhenAll(metrics, stats, series, top);
        return new Snapshot(TimestampParser.Format(nowMs), Names(await metrics), metric, window, step, by,
            await stats, await series, await top, await stats is null ? UnknownMetricMessage(metric) : null);
    }

    public static IResult Stream(IGrainFactory grains, LocalMetrics local, LiveQuery query, TimeProvider time, ILogger logger, CancellationToken requestAborted, CancellationToken stopping) =>
        TypedResults.ServerSentEvents(SnapshotsAsync(grains, local, query, time, logger, requestAborted, stopping), eventType: "snapshot");

    /// <summary>
    /// A snapshot at once, then one per <see cref="Interval"/>, until the client goes or the silo
    /// stops. Ending on shutdown matters: an open stream is a request in flight, and the host
    /// would wait for it for its whole shutdown timeout. A failed query ends the stream too: the
    /// page then polls /api/live/snapshot, which answers with the API's own status and message
    /// (503, 504...), and comes back to the stream when that works again.
    /// </summary>
    private static async IAsyncEnumerable<string> SnapshotsAsync(IGrainFactory grains, LocalMetrics local, LiveQuery query, TimeProvider time, ILogger logger,
        CancellationToken requestAborted, CancellationToken stopping, [EnumeratorCancellation] CancellationToken enumeration = default)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, stopping, enumeration);
        using var timer = new PeriodicTimer(Interval, time);
        while (!cancel.IsCancellationRequested)
        {
            string json;
            try
            {
                json = JsonSerializer.Serialize(await BuildAsync(grains, local, query, time.GetUtcNow().ToUnixTimeMilliseconds()), ApiJson.Options);
            }
            catch (Exception exception) when (!cancel.IsCancellationRequested)
            {
                LogStreamEnded(logger, query.Metric, exception.GetType().Name, exception.Message);
                yield break;
            }

            yield return json;
            try
            {
                await timer.WaitForNextTickAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }

    private static List<string> Names(IReadOnlyList<MetricName> metrics) => metrics.Select(m => m.Metric).ToList();

    [LoggerMessage(Level = LogLevel.Warning, Message = "The live stream of metric {Metric} ended after a failed query ({ExceptionType}: {Reason}); the dashboard polls until queries work again")]
    private static partial void LogStreamEnded(ILogger logger, string? metric, string exceptionType, string reason);
}
