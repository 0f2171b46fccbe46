using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Aws.Kinesis;

/// <summary>
/// A small Kinesis client: the calls the stream adapter needs, over HttpClient with the JSON 1.1
/// protocol, signed by AWSSDK.Core. Throttling, 5xx answers and network failures are retried with
/// <see cref="KinesisRetryPolicy"/>; every other error answer throws <see cref="KinesisException"/>.
/// A retried PutRecords whose first attempt did land writes its records twice: Kinesis is
/// at-least-once, and readers must tolerate duplicates anyway.
/// </summary>
public sealed partial class KinesisClient : IDisposable
{
    private static readonly TimeSpan StatusPollInterval = TimeSpan.FromMilliseconds(200);

    private readonly KinesisClientOptions _options;
    private readonly KinesisRequestSigner _signer;
    private readonly KinesisRetryPolicy _retry;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _credentialsLock = new(1, 1);
    private AWSCredentials? _credentials;

    /// <param name="credentials">Null resolves the standard AWS chain (environment, profile, container, instance) on first use.</param>
    /// <param name="handler">For tests; the client then does not dispose it.</param>
    public KinesisClient(
        KinesisClientOptions options,
        AWSCredentials? credentials = null,
        ILogger<KinesisClient>? logger = null,
        HttpMessageHandler? handler = null,
        TimeProvider? timeProvider = null)
    {
        if (options.Validate() is { } error)
        {
            throw new ArgumentException($"Kinesis client: {error}", nameof(options));
        }

        _options = options;
        _credentials = credentials;
        _signer = new KinesisRequestSigner(options.ResolveEndpoint(), options.Region);
        _retry = KinesisRetryPolicy.From(options);
        _logger = logger ?? NullLogger<KinesisClient>.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _ownsHttp = handler is null;
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            : new HttpClient(handler, disposeHandler: false);
        // Each attempt has its own deadline (RequestTimeout), so that a retry gets a fresh one.
        _http.Timeout = Timeout.InfiniteTimeSpan;
    }

    public Uri Endpoint => _signer.Endpoint;

    public Task CreateStreamAsync(string streamName, int shardCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        return SendAsync("CreateStream", new CreateStreamRequest(streamName, shardCount), Json.CreateStreamRequest, Json.EmptyResponse, cancellationToken);
    }

    /// <summary>Creates the stream unless it exists, then waits until it is ACTIVE.</summary>
    public async Task<StreamDescriptionSummary> EnsureStreamAsync(string streamName, int shardCount, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            await CreateStreamAsync(streamName, shardCount, cancellationToken).ConfigureAwait(false);
        }
        catch (KinesisException e) when (e.IsResourceInUse)
        {
            // It exists already (another silo, or a retried create that had landed).
        }

        return await WaitForStreamActiveAsync(streamName, timeout, cancellationToken).ConfigureAwait(false);
    }

    public async Task<StreamDescriptionSummary> DescribeStreamSummaryAsync(string streamName, CancellationToken cancellationToken = default)
    {
        var response = await SendAsync("DescribeStreamSummary", new StreamNameRequest(streamName), Json.StreamNameRequest, Json.DescribeStreamSummaryResponse, cancellationToken).ConfigureAwait(false);
        return response.StreamDescriptionSummary;
    }

    /// <summary>Polls until the stream is ACTIVE: after a create or a reshard, which take a while.</summary>
    public async Task<StreamDescriptionSummary> WaitForStreamActiveAsync(string streamName, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = _time.GetTimestamp() + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            var summary = await DescribeStreamSummaryAsync(streamName, cancellationToken).ConfigureAwait(false);
            if (summary.IsActive)
            {
                return summary;
            }

            if (_time.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"Kinesis stream '{streamName}' is still {summary.StreamStatus} after {timeout.TotalSeconds:0.#} s.");
            }

            await Task.Delay(StatusPollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One page of shards. Pass <paramref name="nextToken"/> from the previous page to go on (the stream name and filter then must be null).</summary>
    public Task<ListShardsResult> ListShardsAsync(string? streamName, string? nextToken = null, ShardFilter? filter = null, int? maxResults = null, CancellationToken cancellationToken = default)
    {
        if ((streamName is null) == (nextToken is null))
        {
            throw new ArgumentException("ListShards takes either a stream name (first page) or a next token (later pages), not both.");
        }

        if (nextToken is not null && filter is not null)
        {
            throw new ArgumentException("ListShards takes a shard filter only on the first page.", nameof(filter));
        }

        return SendAsync("ListShards", new ListShardsRequest(streamName, nextToken, maxResults, filter), Json.ListShardsRequest, Json.ListShardsResult, cancellationToken);
    }

    /// <summary>Every shard, open and closed (within retention), following NextToken through all pages.</summary>
    public async Task<IReadOnlyList<Shard>> ListAllShardsAsync(string streamName, ShardFilter? filter = null, int? pageSize = null, CancellationToken cancellationToken = default)
    {
        var shards = new List<Shard>();
        var page = await ListShardsAsync(streamName, null, filter, pageSize, cancellationToken).ConfigureAwait(false);
        shards.AddRange(page.Shards);
        while (!string.IsNullOrEmpty(page.NextToken))
        {
            page = await ListShardsAsync(null, page.NextToken, null, pageSize, cancellationToken).ConfigureAwait(false);
            shards.AddRange(page.Shards);
        }

        return shards;
    }

    /// <param name="sequenceNumber">Required for <see cref="ShardIteratorType.AtSequenceNumber"/> and <see cref="ShardIteratorType.AfterSequenceNumber"/>, otherwise null.</param>
    public async Task<string> GetShardIteratorAsync(string streamName, string shardId, ShardIteratorType type, string? sequenceNumber = null, CancellationToken cancellationToken = default)
    {
        var needsSequence = type is ShardIteratorType.AtSequenceNumber or ShardIteratorType.AfterSequenceNumber;
        if (needsSequence != sequenceNumber is not null)
        {
            throw new ArgumentException(needsSequence ? $"{type} needs a sequence number." : $"{type} takes no sequence number.", nameof(sequenceNumber));
        }

        var wireType = type switch
        {
            ShardIteratorType.TrimHorizon => "TRIM_HORIZON",
            ShardIteratorType.Latest => "LATEST",
            ShardIteratorType.AtSequenceNumber => "AT_SEQUENCE_NUMBER",
            ShardIteratorType.AfterSequenceNumber => "AFTER_SEQUENCE_NUMBER",
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
        };
        var response = await SendAsync("GetShardIterator", new GetShardIteratorRequest(streamName, shardId, wireType, sequenceNumber), Json.GetShardIteratorRequest, Json.GetShardIteratorResponse, cancellationToken).ConfigureAwait(false);
        return response.ShardIterator;
    }

    /// <summary>The next records after the iterator. An empty page with a next iterator is normal (nothing new yet, or a gap in the shard).</summary>
    public Task<GetRecordsResult> GetRecordsAsync(string shardIterator, int? limit = null, CancellationToken cancellationToken = default)
    {
        if (limit is < 1 or > KinesisLimits.MaxGetRecordsLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit, $"GetRecords takes 1 to {KinesisLimits.MaxGetRecordsLimit} records.");
        }

        return SendAsync("GetRecords", new GetRecordsRequest(shardIterator, limit), Json.GetRecordsRequest, Json.GetRecordsResult, cancellationToken);
    }

    /// <summary>
    /// Writes up to 500 records (5 MiB with their partition keys). Each entry succeeds or fails on
    /// its own: check each result's ErrorCode and send the failed ones again (throttling shows up
    /// here, not as an exception; so does a record over the stream's size limit, which is final).
    /// </summary>
    public async Task<PutRecordsResult> PutRecordsAsync(string streamName, IReadOnlyList<PutRecordsEntry> records, CancellationToken cancellationToken = default)
    {
        ValidatePutRecords(records);
        var result = await SendAsync("PutRecords", new PutRecordsRequest(streamName, records), Json.PutRecordsRequest, Json.PutRecordsResult, cancellationToken).ConfigureAwait(false);
        if (result.Records.Count != records.Count)
        {
            throw new KinesisException("InvalidResponse", $"PutRecords answered {result.Records.Count} results for {records.Count} records.", System.Net.HttpStatusCode.OK);
        }

        return result;
    }

    public Task SplitShardAsync(string streamName, string shardToSplit, string newStartingHashKey, CancellationToken cancellationToken = default) =>
        SendAsync("SplitShard", new SplitShardRequest(streamName, shardToSplit, newStartingHashKey), Json.SplitShardRequest, Json.EmptyResponse, cancellationToken);

    /// <summary>Merges two shards whose hash key ranges are adjacent.</summary>
    public Task MergeShardsAsync(string streamName, string shardToMerge, string adjacentShardToMerge, CancellationToken cancellationToken = default) =>
        SendAsync("MergeShards", new MergeShardsRequest(streamName, shardToMerge, adjacentShardToMerge), Json.MergeShardsRequest, Json.EmptyResponse, cancellationToken);

    public Task<UpdateShardCountResult> UpdateShardCountAsync(string streamName, int targetShardCount, CancellationToken cancellationToken = default) =>
        SendAsync("UpdateShardCount", new UpdateShardCountRequest(streamName, targetShardCount, "UNIFORM_SCALING"), Json.UpdateShardCountRequest, Json.UpdateShardCountResult, cancellationToken);

    public Task DeleteStreamAsync(string streamName, bool enforceConsumerDeletion = false, CancellationToken cancellationToken = default) =>
        SendAsync("DeleteStream", new DeleteStreamRequest(streamName, enforceConsumerDeletion), Json.DeleteStreamRequest, Json.EmptyResponse, cancellationToken);

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }

        _credentialsLock.Dispose();
    }

    private static KinesisJsonContext Json => KinesisJsonContext.Default;

    private static void ValidatePutRecords(IReadOnlyList<PutRecordsEntry> records)
    {
        if (records.Count is < 1 or > KinesisLimits.MaxPutRecordsCount)
        {
            throw new ArgumentException($"PutRecords takes 1 to {KinesisLimits.MaxPutRecordsCount} records, not {records.Count}.", nameof(records));
        }

        long total = 0;
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            if (string.IsNullOrEmpty(record.PartitionKey) || record.PartitionKey.Length > KinesisLimits.MaxPartitionKeyLength)
            {
                throw new ArgumentException($"Record {i}: a partition key has 1 to {KinesisLimits.MaxPartitionKeyLength} characters.", nameof(records));
            }

            // The largest record is a setting of each stream (MaxRecordSizeInKiB, 1 to 10 MiB), so
            // only the service can judge a single record; it fails just that entry.
            total += record.Data.Length + Encoding.UTF8.GetByteCount(record.PartitionKey);
        }

        if (total > KinesisLimits.MaxPutRecordsBytes)
        {
            throw new ArgumentException($"The records add up to {total} bytes; one PutRecords takes at most {KinesisLimits.MaxPutRecordsBytes}.", nameof(records));
        }
    }

    private async Task<TResponse> SendAsync<TRequest, TResponse>(
        string action, TRequest request, JsonTypeInfo<TRequest> requestInfo, JsonTypeInfo<TResponse> responseInfo, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request, requestInfo);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await SendOnceAsync(action, body, responseInfo, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (_retry.ShouldRetry(e, attempt, cancellationToken))
            {
                var delay = _retry.Delay(attempt);
                if (e is KinesisException { IsThrottling: true })
                {
                    // Routine under load: the backoff is the remedy, not news.
                    LogThrottled(_logger, action, attempt, _retry.MaxAttempts, delay.TotalMilliseconds, e.Message);
                }
                else
                {
                    LogRetrying(_logger, action, attempt, _retry.MaxAttempts, delay.TotalMilliseconds, e.Message);
                }

                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<TResponse> SendOnceAsync<TResponse>(string action, byte[] body, JsonTypeInfo<TResponse> responseInfo, CancellationToken cancellationToken)
    {
        var credentials = await GetCredentialsAsync(cancellationToken).ConfigureAwait(false);
        // Refreshing credentials (assumed roles, instance profiles) renew here, asynchronously.
        var current = await credentials.GetCredentialsAsync().ConfigureAwait(false);

        using var message = _signer.CreateSignedRequest(action, body, current);
        using var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attemptTimeout.CancelAfter(_options.RequestTimeout);
        try
        {
            using var response = await _http.SendAsync(message, attemptTimeout.Token).ConfigureAwait(false);
            var payload = await response.Content.ReadAsByteArrayAsync(attemptTimeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var errorType = response.Headers.TryGetValues("x-amzn-ErrorType", out var values) ? values.FirstOrDefault() : null;
                throw KinesisException.FromResponse(response.StatusCode, errorType, payload);
            }

            if (payload.Length == 0)
            {
                payload = "{}"u8.ToArray();
            }

            return JsonSerializer.Deserialize(payload, responseInfo)
                ?? throw new KinesisException("InvalidResponse", $"{action} answered null.", response.StatusCode);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new KinesisAttemptTimeoutException(action, _options.RequestTimeout);
        }
    }

    private async ValueTask<AWSCredentials> GetCredentialsAsync(CancellationToken cancellationToken)
    {
        if (_credentials is { } known)
        {
            return known;
        }

        await _credentialsLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The chain may probe the instance metadata service; do that once, not per call.
            return _credentials ??= await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync().ConfigureAwait(false);
        }
        finally
        {
            _credentialsLock.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Kinesis {Action} attempt {Attempt} of {MaxAttempts} was throttled; retrying in {DelayMs:0} ms: {Reason}")]
    private static partial void LogThrottled(ILogger logger, string action, int attempt, int maxAttempts, double delayMs, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kinesis {Action} attempt {Attempt} of {MaxAttempts} failed; retrying in {DelayMs:0} ms: {Reason}")]
    private static partial void LogRetrying(ILogger logger, string action, int attempt, int maxAttempts, double delayMs, string reason);
}
