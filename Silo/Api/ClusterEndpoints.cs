using Analytics.Events;
using Analytics.Grains;
using Analytics.Silo.Hosting;
using Analytics.Streaming;
using Orleans.Runtime;

namespace Analytics.Silo.Api;

/// <summary>Cluster diagnostics, the dead-letter store, and the health probes.</summary>
public static class ClusterEndpoints
{
    public static void MapClusterEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/cluster", async (ClusterOverview overview, CancellationToken cancellationToken) =>
                Results.Json(await overview.DescribeAsync(cancellationToken), ApiJson.Options))
            .WithName("Cluster").WithSummary("The silos of the cluster with status, zone, activations, owned queues (shards) and iterator age; each silo's figures come from that silo.");

        app.MapGet("/api/cluster/self", async (ClusterOverview overview) => Results.Json(await overview.DescribeSelfAsync(), ApiJson.Options))
            .WithName("ClusterSelf").WithSummary("This silo's own activations, queues, network counters and runtime figures (CPU, allocation, GC pauses, thread pool): what /api/cluster asks each silo for.");

        app.MapGet("/api/dead-letters", async (string? limit, [FromKeyedServices(AnalyticsStreams.Provider)] IDeadLetterStore store, CancellationToken cancellationToken) =>
            {
                var count = 20;
                if (!string.IsNullOrEmpty(limit) && (!int.TryParse(limit, out count) || count is < 1 or > 1000))
                {
                    return ApiError.BadRequest($"limit must be a whole number from 1 to 1000, not '{limit}'.");
                }

                var letters = await store.ListAsync(count, cancellationToken);
                return Results.Json(
                    new DeadLettersResponse(
                        await store.CountAsync(cancellationToken),
                        letters.Select(l => new DeadLetterResponse(l.Queue, l.Sequence, l.Reason, TimestampParser.Format(l.Time.ToUnixTimeMilliseconds()), System.Text.Encoding.UTF8.GetString(l.Data))).ToList()),
                    ApiJson.Options);
            })
            .WithName("DeadLetters").WithSummary("Records that could not be processed, newest first.");

        app.MapGet("/health/live", () => Results.Json(new { status = "live" }, ApiJson.Options)).WithName("Live");
        app.MapGet("/health/ready", (IClusterMembershipService membership, ILocalSiloDetails silo) =>
                membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress) == SiloStatus.Active
                ? Results.Json(new { status = "ready" }, ApiJson.Options)
                : ApiError.Unavailable("The silo has not joined the cluster yet."))
            .WithName("Ready");
    }

    public sealed record ClusterResponse(string ClusterId, string Self, long MembershipVersion, IReadOnlyList<SiloResponse> Silos);

    /// <param name="Error">Why the silo's own figures are missing (it did not answer in time), or null.</param>
    public sealed record SiloResponse(string Address, string Name, string Status, string? Zone, string StartTime, string LastHeartbeat, bool IsSelf,
        int? ActivationCount, IReadOnlyList<QueueResponse>? Queues, string? Error = null, NetworkResponse? Network = null, string? Gateway = null,
        RuntimeFigures? Runtime = null);

    /// <summary>What one silo reports about itself.</summary>
    public sealed record SelfResponse(string Address, int ActivationCount, IReadOnlyList<QueueResponse> Queues, NetworkResponse? Network = null, RuntimeFigures? Runtime = null);

    /// <summary>Grain calls this silo sent to and received from other silos, calls from clients, and failure-detector probes, since it started.</summary>
    public sealed record NetworkResponse(long Sent, long Received, long FromClients, long Probes);

    public sealed record QueueResponse(string Queue, long Records, long Events, string? Checkpoint, double? IteratorAgeMs, long PoisonRecords, long Duplicates);

    public sealed record DeadLettersResponse(long Total, IReadOnlyList<DeadLetterResponse> Items);

    public sealed record DeadLetterResponse(string Queue, string Sequence, string Reason, string Time, string Data);
}
