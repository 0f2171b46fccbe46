using Orleans.Runtime;
using Microsoft.AspNetCore.Diagnostics;

namespace Analytics.Silo.Api;

/// <summary>
/// Turns every failure into the contract's {"error": "..."} with a fitting status, and never sends
/// a stack trace: 400 for arguments a grain refused, 503 when a silo is unavailable, 504 on a
/// grain call timeout or when the event stream refused a batch, 500 otherwise (with a trace id to find it in the log).
/// </summary>
public static partial class ApiErrorHandling
{
    public static WebApplication UseApiErrors(this WebApplication app)
    {
        app.UseExceptionHandler(handler => handler.Run(async context =>
        {
            var exception = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (status, message) = exception switch
            {
                BadHttpRequestException bad => (bad.StatusCode, bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "The body is larger than the limit (Http:MaxBodyBytes). Split the batch." : bad.Message),
                ArgumentException argument => (StatusCodes.Status400BadRequest, argument.Message),
                // The event stream (Kinesis) did not take every event in time: some may be stored, so
                // the client retries the whole batch; events keep their ids, so none counts twice.
                Ingest.EventStreamUnavailableException unavailable => (StatusCodes.Status503ServiceUnavailable,
                    $"The event stream did not accept every event: {unavailable.Message} Retry the batch with the same event ids; duplicates count once."),
                SiloUnavailableException or Orleans.Runtime.Messaging.ConnectionFailedException => (StatusCodes.Status503ServiceUnavailable,
                    $"A silo is unavailable: {exception.Message} Retry shortly."),
                // Orleans reports a grain call that got no answer within its response timeout as a TimeoutException.
                TimeoutException timeout => (StatusCodes.Status504GatewayTimeout, $"A grain call timed out: {timeout.Message}"),
                OperationCanceledException when context.RequestAborted.IsCancellationRequested => (499, "The client closed the request."),
                _ => (StatusCodes.Status500InternalServerError, $"Internal error (trace id {context.TraceIdentifier}); the silo's log has the details."),
            };
            if (status == StatusCodes.Status500InternalServerError)
            {
                LogUnhandled(app.Logger, exception!, context.TraceIdentifier);
            }

            context.Response.StatusCode = status;
            await context.Response.WriteAsJsonAsync(new ApiError.ErrorBody(message), ApiJson.Options);
        }));

        app.UseStatusCodePages(async context =>
        {
            var response = context.HttpContext.Response;
            if (response.ContentLength is null or 0 && !response.HasStarted)
            {
                var message = response.StatusCode switch
                {
                    StatusCodes.Status404NotFound => $"There is no endpoint at {context.HttpContext.Request.Path}; see /openapi/v1.json.",
                    StatusCodes.Status405MethodNotAllowed => $"{context.HttpContext.Request.Method} is not allowed on {context.HttpContext.Request.Path}.",
                    _ => $"HTTP {response.StatusCode}.",
                };
                await response.WriteAsJsonAsync(new ApiError.ErrorBody(message), ApiJson.Options);
            }
        });
        return app;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled error in request {TraceId}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string traceId);
}
