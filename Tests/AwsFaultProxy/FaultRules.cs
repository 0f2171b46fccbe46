using System.Net;
using System.Text.Json;

namespace Analytics.Testing.AwsFaultProxy;

/// <summary>What an injected fault answers instead of the emulator.</summary>
public enum FaultKind
{
    /// <summary>HTTP 400 ProvisionedThroughputExceededException: the shard's or table's capacity was exceeded.</summary>
    ProvisionedThroughputExceeded,

    /// <summary>HTTP 400 ThrottlingException: the account's request rate for the API was exceeded.</summary>
    Throttling,

    /// <summary>HTTP 503 ServiceUnavailable: a server-side failure, retryable like any 5xx.</summary>
    ServiceUnavailable,
}

/// <summary>
/// When one operation's requests fail. A request fails when any of the conditions holds; the
/// request number counts that operation's requests since the rule was set, from 1.
/// </summary>
internal sealed class FaultRule
{
    private readonly int _everyNth;
    private readonly double _probability;
    private readonly int _firstN;
    private long _seen;

    public FaultRule(int everyNth, double probability, int firstN, FaultKind kind)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(everyNth);
        ArgumentOutOfRangeException.ThrowIfNegative(firstN);
        if (double.IsNaN(probability) || probability is < 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "A probability is between 0 and 1.");
        }

        _everyNth = everyNth;
        _probability = probability;
        _firstN = firstN;
        Kind = kind;
    }

    public FaultKind Kind { get; }

    /// <summary>Takes the next request number and says whether that request fails. Thread-safe.</summary>
    public bool Next()
    {
        var n = Interlocked.Increment(ref _seen);
        return n <= _firstN
            || (_everyNth > 0 && n % _everyNth == 0)
            || (_probability > 0 && Random.Shared.NextDouble() < _probability);
    }
}

/// <summary>The AWS service a request is for, from its X-Amz-Target prefix; it decides the error format.</summary>
internal enum AwsService
{
    Other,
    Kinesis,
    DynamoDB,
}

/// <summary>An answer the proxy makes itself, as the service would have made it.</summary>
internal sealed record ErrorAnswer(HttpStatusCode Status, string ContentType, string ErrorType, byte[] Body)
{
    private const string KinesisContentType = "application/x-amz-json-1.1";
    private const string DynamoDbContentType = "application/x-amz-json-1.0";

    // DynamoDB qualifies its own errors with the API's namespace; the SDK keeps the part after '#'.
    private const string DynamoDbPrefix = "com.amazonaws.dynamodb.v20120810#";

    public static ErrorAnswer For(AwsService service, FaultKind kind)
    {
        var (status, type, message) = (service, kind) switch
        {
            (AwsService.DynamoDB, FaultKind.ProvisionedThroughputExceeded) => (HttpStatusCode.BadRequest, DynamoDbPrefix + "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API. (injected by AwsFaultProxy)"),
            // Real DynamoDB sends its throttling from the availability layer, with that namespace.
            (AwsService.DynamoDB, FaultKind.Throttling) => (HttpStatusCode.BadRequest, "com.amazon.coral.availability#ThrottlingException",
                "Rate of requests exceeds the allowed throughput. (injected by AwsFaultProxy)"),
            (AwsService.DynamoDB, _) => (HttpStatusCode.ServiceUnavailable, DynamoDbPrefix + "ServiceUnavailable",
                "The service is currently unavailable or busy. (injected by AwsFaultProxy)"),
            (_, FaultKind.ProvisionedThroughputExceeded) => (HttpStatusCode.BadRequest, "ProvisionedThroughputExceededException",
                "Rate exceeded for shard (injected by AwsFaultProxy)."),
            (_, FaultKind.Throttling) => (HttpStatusCode.BadRequest, "ThrottlingException", "Rate exceeded (injected by AwsFaultProxy)."),
            _ => (HttpStatusCode.ServiceUnavailable, "ServiceUnavailable", "Service unavailable (injected by AwsFaultProxy)."),
        };

        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["__type"] = type, ["message"] = message });
        return new ErrorAnswer(status, service == AwsService.DynamoDB ? DynamoDbContentType : KinesisContentType, type, body);
    }

    public static AwsService ServiceOf(string? target) =>
        target is null ? AwsService.Other
        : target.StartsWith("Kinesis_", StringComparison.Ordinal) ? AwsService.Kinesis
        : target.StartsWith("DynamoDB", StringComparison.Ordinal) ? AwsService.DynamoDB
        : AwsService.Other;
}
