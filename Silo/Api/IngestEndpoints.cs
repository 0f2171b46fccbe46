using System.Buffers;
using Analytics.Events;
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

        if (await ReadBodyAsync(request, limit, cancellationToken) is not var (body, length))
        {
            return ApiError.TooLarge($"The body is larger than the limit of {limit} bytes (Http:MaxBodyBytes). Split the batch.");
        }

        // With inline scheduling the last read of the body resumes on the I/O thread; parse elsewhere.
        await IoThreadOffload.LeaveIoThread();
        EventParseResult result;
        try
        {
            result = ingestor.Parse(body.AsSpan(0, length), IsNdjson(request));
        }
        finally
        {
            // The parsed events own their strings, so the body goes back to the pool at once.
            ArrayPool<byte>.Shared.Return(body);
        }

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

    /// <summary>
    /// Reads at most limit bytes into a buffer from the shared pool, which the caller returns; null
    /// when the body is larger (chunked bodies have no length up front). Pooled, because a body of
    /// a thousand events is over 85 KB: a fresh array per request would be a large-object
    /// allocation each time, and those make the garbage collector run full collections.
    /// </summary>
    private static async Task<(byte[] Buffer, int Length)?> ReadBodyAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        // One byte more than the limit, so that a body over the limit shows as one.
        var capacity = (int)Math.Min(limit + 1, request.ContentLength is { } length ? length + 1 : 64 * 1024);
        var buffer = ArrayPool<byte>.Shared.Rent(capacity);
        var filled = 0;
        try
        {
            while (true)
            {
                if (filled == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(limit + 1, 2L * buffer.Length));
                    buffer.AsSpan(0, filled).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(filled), cancellationToken);
                if (read == 0)
                {
                    return (buffer, filled);
                }

                filled += read;
                if (filled > limit)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return null;
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    public sealed record IngestResponse(int Accepted, int Rejected, IReadOnlyList<IngestError> Errors);

    public sealed record IngestError(int Index, string Error);
}
