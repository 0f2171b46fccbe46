using Analytics.Silo.Hosting;
using Analytics.Silo.Ingest;
using Microsoft.Extensions.Options;

namespace Analytics.Silo.Api;

/// <summary>POST /api/events: a JSON array of events, or NDJSON.</summary>
public static class IngestEndpoints
{
    public static void MapIngestEndpoints(this IEndpointRouteBuilder app) =>
        app.MapPost("/api/events", IngestAsync)
            .WithName("IngestEvents")
            .WithSummary("Accepts a batch of events; answers 202 once every accepted event is durable.")
            .Accepts<object>("application/json", "application/x-ndjson")
            .Produces<IngestResponse>(StatusCodes.Status202Accepted)
            .Produces<ApiError.ErrorBody>(StatusCodes.Status400BadRequest)
            .Produces<ApiError.ErrorBody>(StatusCodes.Status413PayloadTooLarge);

    private static async Task<IResult> IngestAsync(HttpRequest request, EventIngestor ingestor, IOptions<HttpOptions> options, CancellationToken cancellationToken)
    {
        var limit = options.Value.MaxBodyBytes;
        if (request.ContentLength > limit)
        {
            return ApiError.TooLarge($"The body is {request.ContentLength} bytes; the limit is {limit} bytes (Http:MaxBodyBytes). Split the batch.");
        }

        var body = await ReadBodyAsync(request, limit, cancellationToken);
        if (body is null)
        {
            return ApiError.TooLarge($"The body is larger than the limit of {limit} bytes (Http:MaxBodyBytes). Split the batch.");
        }

        var result = ingestor.Parse(body.Value.Span, IsNdjson(request));
        if (result.IsFatal)
        {
            return ApiError.BadRequest(result.FatalError!);
        }

        await ingestor.AppendAsync(result.Accepted, cancellationToken);
        return Results.Json(
            new IngestResponse(result.Accepted.Count, result.Rejected, result.Errors.Select(e => new IngestError(e.Index, e.Error)).ToList()),
            ApiJson.Options,
            statusCode: StatusCodes.Status202Accepted);
    }

    private static bool IsNdjson(HttpRequest request)
    {
        var type = request.ContentType ?? "";
        return type.StartsWith("application/x-ndjson", StringComparison.OrdinalIgnoreCase)
            || type.StartsWith("application/ndjson", StringComparison.OrdinalIgnoreCase)
            || type.StartsWith("application/jsonl", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Reads at most limit bytes; null when the body is larger (chunked bodies have no length up front).</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream(request.ContentLength is { } length ? (int)Math.Min(length, limit) : 64 * 1024);
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    public sealed record IngestResponse(int Accepted, int Rejected, IReadOnlyList<IngestError> Errors);

    public sealed record IngestError(int Index, string Error);
}
