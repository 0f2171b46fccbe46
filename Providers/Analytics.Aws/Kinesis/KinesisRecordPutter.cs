using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Aws.Kinesis;

/// <summary>An entry Kinesis refused for good (too large, a KMS key that is gone): sending it again cannot help.</summary>
public readonly record struct KinesisRefusedEntry(int Index, string Error);

/// <summary>What one <see cref="KinesisRecordPutter.PutAsync"/> did: every entry not refused was written.</summary>
public sealed record KinesisPutOutcome(IReadOnlyList<KinesisRefusedEntry> Refused, int Calls, int RetriedEntries, int ThrottledResponses);

/// <summary>
/// Writes one PutRecords call's entries (at most 500 and 5 MiB) for good: the call, then only its
/// failed entries again, with backoff, until each is written or refused. PutRecords is not atomic,
/// so re-sending the whole call would duplicate the entries that did land. The service's ingest
/// and the tool's producer both write through this, so they retry the same way.
/// </summary>
public sealed partial class KinesisRecordPutter(
    KinesisClient client,
    string streamName,
    TimeSpan retryTimeout,
    KinesisRetryPolicy backoff,
    TimeProvider? time = null,
    ILogger? logger = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <exception cref="TimeoutException">Some entries were still not written after the retry timeout; the others were.</exception>
    public async Task<KinesisPutOutcome> PutAsync(IReadOnlyList<PutRecordsEntry> entries, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        List<int> pending = [.. Enumerable.Range(0, entries.Count)];
        var refused = new List<KinesisRefusedEntry>();
        int calls = 0, retried = 0, throttled = 0;
        var lastError = "";
        for (var retry = 1; ; retry++)
        {
            try
            {
                var result = await client.PutRecordsAsync(streamName, [.. pending.Select(i => entries[i])], cancellationToken).ConfigureAwait(false);
                calls++;
                var failed = new List<int>();
                for (var k = 0; k < pending.Count; k++)
                {
                    var entry = result.Records[k];
                    if (entry.IsSuccess)
                    {
                        continue;
                    }

                    var error = $"{entry.ErrorCode}: {entry.ErrorMessage}";
                    if (!IsRetryableEntryError(entry.ErrorCode))
                    {
                        refused.Add(new KinesisRefusedEntry(pending[k], error));
                        continue;
                    }

                    throttled += KinesisException.IsThrottlingCode(entry.ErrorCode) ? 1 : 0;
                    failed.Add(pending[k]);
                    lastError = error;
                }

                if (failed.Count == 0)
                {
                    return new KinesisPutOutcome(refused, calls, retried, throttled);
                }

                LogPartialFailure(streamName, failed.Count, pending.Count, lastError);
                retried += failed.Count;
                pending = failed;
            }
            catch (Exception e) when (KinesisRetryPolicy.IsTransient(e) && !cancellationToken.IsCancellationRequested)
            {
                // The client has already retried this call; keep going within our own deadline.
                lastError = e.Message;
                throttled += e is KinesisException { IsThrottling: true } ? 1 : 0;
                LogPutFailed(streamName, pending.Count, e.Message);
            }

            var delay = backoff.Delay(retry);
            if (_time.GetElapsedTime(started) + delay > retryTimeout)
            {
                throw new TimeoutException(
                    $"Kinesis stream '{streamName}': {pending.Count} of {entries.Count} records were still not written after {retryTimeout.TotalSeconds:0.#} s of retries (last error: {lastError}). " +
                    "The other records were written; sending them again may duplicate them.");
            }

            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Entry errors that a later attempt can cure: throttling, and the service's own internal failures.</summary>
    private static bool IsRetryableEntryError(string? errorCode) =>
        errorCode is null or "InternalFailure" or "ServiceUnavailable" or "InternalServerError" || KinesisException.IsThrottlingCode(errorCode);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Kinesis stream {Stream}: {Failed} of {Count} records were not written ({Error}); re-sending them")]
    private partial void LogPartialFailure(string stream, int failed, int count, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kinesis stream {Stream}: PutRecords of {Count} records failed ({Error}); retrying")]
    private partial void LogPutFailed(string stream, int count, string error);
}
