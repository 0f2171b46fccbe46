using Analytics.Events;
using Analytics.Grains;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Streaming;

namespace Analytics.Silo.Api;

/// <summary>Cluster diagnostics, the dead-letter store, and the health probes.</summary>
public static class ClusterEndpoints
{
    public static void MapClusterEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/cluster", (SiloDiagnostics silo) => Results.Json(Describe(silo), ApiJson.Options))
            .WithName("Cluster").WithSummary("The silos of the cluster with their status, and this silo's activations and queues.");

        app.MapGet("/api/dead-letters", async (string? limit, IServiceProvider services, CancellationToken cancellationToken) =>
            {
                var count = 20;
                if (!string.IsNullOrEmpty(limit) && (!int.TryParse(limit, out count) || count is < 1 or > 1000))
                {
                    return ApiError.BadRequest($"limit must be a whole number from 1 to 1000, not '{limit}'.");
                }

                var store = services.GetStreamProvider(AnalyticsStreams.Provider).DeadLetters;
                var letters = await store.ListAsync(count, cancellationToken);
                return Results.Json(
                    new DeadLettersResponse(
                        await store.CountAsync(cancellationToken),
                        letters.Select(l => new DeadLetterResponse(l.Queue, l.Sequence, l.Reason, TimestampParser.Format(l.Time.ToUnixTimeMilliseconds()), System.Text.Encoding.UTF8.GetString(l.Data))).ToList()),
                    ApiJson.Options);
            })
            .WithName("DeadLetters").WithSummary("Records that could not be processed, newest first.");

        app.MapGet("/health/live", () => Results.Json(new { status = "live" }, ApiJson.Options)).WithName("Live");
        app.MapGet("/health/ready", (SiloDiagnostics silo) => silo.Host.IsActive
                ? Results.Json(new { status = "ready" }, ApiJson.Options)
                : ApiError.Unavailable("The silo has not joined the cluster yet."))
            .WithName("Ready");
    }

    private static ClusterResponse Describe(SiloDiagnostics silo)
    {
        var view = silo.Membership.Current;
        var queues = silo.Queues;
        return new ClusterResponse(
            silo.Local.ClusterId,
            silo.Local.SiloAddress.ToString(),
            view.Version,
            view.Entries.OrderBy(e => e.SiloName, StringComparer.Ordinal).Select(e =>
            {
                var local = e.Silo == silo.Local.SiloAddress;
                return new SiloResponse(
                    e.Silo.ToString(),
                    e.SiloName,
                    e.Status.ToString(),
                    e.Zone,
                    TimestampParser.Format(e.StartTime.ToUnixTimeMilliseconds()),
                    TimestampParser.Format(e.IAmAliveTime.ToUnixTimeMilliseconds()),
                    local,
                    local ? silo.ActivationCount : null,
                    local ? queues.Select(q => new QueueResponse(
                        q.Queue.ToString(),
                        q.Statistics.Records,
                        q.Statistics.Items,
                        q.Statistics.Committed?.ToString(),
                        q.Statistics.Lag?.TotalMilliseconds,
                        q.Statistics.PoisonRecords,
                        q.Statistics.Dropped)).ToList() : null);
            }).ToList());
    }

    public sealed record ClusterResponse(string ClusterId, string Self, int MembershipVersion, IReadOnlyList<SiloResponse> Silos);

    public sealed record SiloResponse(string Address, string Name, string Status, string? Zone, string StartTime, string LastHeartbeat, bool IsSelf,
        int? ActivationCount, IReadOnlyList<QueueResponse>? Queues);

    public sealed record QueueResponse(string Queue, long Records, long Events, string? Checkpoint, double? IteratorAgeMs, long PoisonRecords, long Duplicates);

    public sealed record DeadLettersResponse(long Total, IReadOnlyList<DeadLetterResponse> Items);

    public sealed record DeadLetterResponse(string Queue, string Sequence, string Reason, string Time, string Data);
}
