using System.Net;
using System.Text.Json;

namespace Analytics.Aws.Kinesis;

/// <summary>An error answer from Kinesis: its error code (the JSON <c>__type</c>), message and HTTP status.</summary>
public sealed class KinesisException : Exception
{
    public KinesisException(string errorCode, string message, HttpStatusCode statusCode)
        : base($"{errorCode}: {message}")
    {
        ErrorCode = errorCode;
        ErrorMessage = message;
        StatusCode = statusCode;
    }

    /// <summary>The bare error name, for example <c>ProvisionedThroughputExceededException</c>.</summary>
    public string ErrorCode { get; }

    /// <summary>The service's own message, without the error code in front.</summary>
    public string ErrorMessage { get; }

    public HttpStatusCode StatusCode { get; }

    /// <summary>The call was refused for rate: back off and try again.</summary>
    public bool IsThrottling => IsThrottlingCode(ErrorCode);

    /// <summary>The shard iterator is too old (5 minutes unused) or not valid: get a new one from the last sequence number read.</summary>
    public bool IsExpiredIterator => ErrorCode is "ExpiredIteratorException";

    /// <summary>The stream or shard does not exist (or not in this account and region).</summary>
    public bool IsResourceNotFound => ErrorCode is "ResourceNotFoundException";

    /// <summary>The stream exists already, or is not ACTIVE for the operation (creating, updating, deleting).</summary>
    public bool IsResourceInUse => ErrorCode is "ResourceInUseException";

    /// <summary>Worth retrying unchanged after a pause: throttling, or a server-side failure (5xx).</summary>
    public bool IsRetryable => IsThrottling || (int)StatusCode >= 500;

    public static bool IsThrottlingCode(string? errorCode) =>
        errorCode is "ProvisionedThroughputExceededException" or "LimitExceededException" or "ThrottlingException"
            or "KMSThrottlingException";

    /// <summary>
    /// Reads an error answer. The JSON protocols put the code in <c>__type</c>, sometimes qualified
    /// (<c>com.amazonaws.kinesis.v20131202#ExpiredIteratorException</c>), or in the
    /// <c>x-amzn-ErrorType</c> header with a <c>:</c> suffix; both reduce to the bare name.
    /// </summary>
    internal static KinesisException FromResponse(HttpStatusCode status, string? errorTypeHeader, ReadOnlySpan<byte> body)
    {
        string? code = null;
        string? message = null;
        try
        {
            using var document = JsonDocument.Parse(body.ToArray());
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    if (property.Value.ValueKind != JsonValueKind.String)
                    {
                        continue;
                    }

                    if (property.NameEquals("__type") || property.NameEquals("code"))
                    {
                        code ??= property.Value.GetString();
                    }
                    else if (property.Name.Equals("message", StringComparison.OrdinalIgnoreCase))
                    {
                        message ??= property.Value.GetString();
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's HTML page, an empty 503): the status code is all there is.
        }

        code = BareCode(code) ?? BareCode(errorTypeHeader) ?? $"Http{(int)status}";
        message ??= body.Length > 0 && body.Length <= 512 ? System.Text.Encoding.UTF8.GetString(body) : status.ToString();
        return new KinesisException(code, message, status);
    }

    private static string? BareCode(string? code)
    {
        if (string.IsNullOrWhiteSpace(code))
        {
            return null;
        }

        var hash = code.LastIndexOf('#');
        if (hash >= 0)
        {
            code = code[(hash + 1)..];
        }

        var colon = code.IndexOf(':', StringComparison.Ordinal);
        return (colon >= 0 ? code[..colon] : code).Trim();
    }
}
