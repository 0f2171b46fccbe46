using System.Net;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;

namespace Analytics.Aws.DynamoDB;

/// <summary>
/// Keeps retrying a DynamoDB call that was throttled or hit a server error, after the SDK's own
/// retries gave up: state writes and checkpoints must never be dropped because a table was busy.
/// Backoff doubles from 50 ms to 5 s with full jitter, until the caller cancels.
/// </summary>
public static class DynamoDBRetry
{
    private static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken, TimeProvider? timeProvider = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsRetryable(e) && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(Delay(attempt), timeProvider ?? TimeProvider.System, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public static Task RunAsync(Func<CancellationToken, Task> call, CancellationToken cancellationToken, TimeProvider? timeProvider = null) =>
        RunAsync(async ct =>
        {
            await call(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken, timeProvider);

    /// <summary>Throttling of either kind, a request limit, a 5xx, or a connection that failed before any answer.</summary>
    public static bool IsRetryable(Exception exception) => exception switch
    {
        ProvisionedThroughputExceededException or RequestLimitExceededException or InternalServerErrorException => true,
        // By code too: an operation whose model lacks the typed exception (DescribeTable) throws the generic one.
        AmazonServiceException { ErrorCode: "ThrottlingException" or "Throttling" or "TooManyRequestsException" or "ProvisionedThroughputExceededException" or "RequestLimitExceeded" } => true,
        AmazonServiceException { StatusCode: >= HttpStatusCode.InternalServerError } => true,
        HttpRequestException or IOException => true,
        AmazonClientException { InnerException: HttpRequestException or IOException } => true,
        _ => false,
    };

    public static TimeSpan Delay(int attempt)
    {
        var ceiling = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 16)));
        return TimeSpan.FromMilliseconds(ceiling * (0.5 + (Random.Shared.NextDouble() / 2)));
    }
}
