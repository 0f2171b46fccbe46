using System.Net;

namespace Analytics.Client;

/// <summary>
/// The server answered with an error status. <see cref="Error"/> is the contract's
/// <c>{"error": "..."}</c> message (a message a person can act on), or a stand-in when the answer
/// had no such body (a proxy's error page, an empty 413 from the web server).
/// </summary>
public class AnalyticsApiException : Exception
{
    public AnalyticsApiException(HttpStatusCode statusCode, string error, Exception? inner = null)
        : base($"The server answered {(int)statusCode} {Describe(statusCode)}: {error}", inner)
    {
        StatusCode = statusCode;
        Error = error;
    }

    /// <summary>The HTTP status of the answer.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>The server's error message.</summary>
    public string Error { get; }

    private static string Describe(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => "Bad Request",
        HttpStatusCode.NotFound => "Not Found",
        HttpStatusCode.RequestEntityTooLarge => "Payload Too Large",
        HttpStatusCode.InternalServerError => "Internal Server Error",
        HttpStatusCode.BadGateway => "Bad Gateway",
        HttpStatusCode.ServiceUnavailable => "Service Unavailable",
        HttpStatusCode.GatewayTimeout => "Gateway Timeout",
        _ => status.ToString(),
    };
}

/// <summary>
/// <c>POST /api/events</c> refused the whole batch: <c>400</c> when the body could not be read
/// as a JSON array or NDJSON, <c>413</c> when it is larger than the server's limit (default
/// 5 MiB). Nothing of the batch was accepted, so it is safe to fix or split it and send again.
/// </summary>
public sealed class AnalyticsIngestException : AnalyticsApiException
{
    public AnalyticsIngestException(HttpStatusCode statusCode, string error)
        : base(statusCode, error)
    {
    }

    /// <summary>True for <c>413</c>: send the events in smaller batches.</summary>
    public bool IsPayloadTooLarge => StatusCode == HttpStatusCode.RequestEntityTooLarge;

    /// <summary>True for <c>400</c>: the body could not be read at all.</summary>
    public bool IsMalformed => StatusCode == HttpStatusCode.BadRequest;
}
