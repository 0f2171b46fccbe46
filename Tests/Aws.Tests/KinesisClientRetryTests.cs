using System.Net;
using Amazon.Runtime;
using Analytics.Aws.Kinesis;

namespace Analytics.Aws.Tests;

/// <summary>Error mapping and retries, against scripted answers (no emulator: kinesis-mock never throttles).</summary>
public sealed class KinesisClientRetryTests
{
    private static readonly AWSCredentials Credentials = new BasicAWSCredentials("test", "test");

    private static KinesisClient Client(FakeKinesisHandler handler, int maxAttempts = 4) => new(
        new KinesisClientOptions
        {
            ServiceUrl = "http://127.0.0.1:1",
            MaxAttempts = maxAttempts,
            BaseRetryDelay = TimeSpan.FromMilliseconds(1),
            MaxRetryDelay = TimeSpan.FromMilliseconds(5),
        },
        Credentials,
        handler: handler);

    [Fact]
    public async Task Throttling_is_retried_until_the_call_succeeds()
    {
        using var handler = new FakeKinesisHandler(
            FakeKinesisHandler.Answer(HttpStatusCode.BadRequest, "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"Rate exceeded for shard\"}"),
            FakeKinesisHandler.Answer(HttpStatusCode.BadRequest, "{\"__type\":\"LimitExceededException\",\"message\":\"too many\"}"),
            FakeKinesisHandler.Answer(HttpStatusCode.OK, "{\"Records\":[],\"NextShardIterator\":\"next\",\"MillisBehindLatest\":0}"));
        using var client = Client(handler);

        var page = await client.GetRecordsAsync("iterator");

        Assert.Equal(3, handler.Sent.Count);
        Assert.Equal("next", page.NextShardIterator);
        // Each attempt is signed anew (the signature covers the time).
        Assert.All(handler.Sent, s => Assert.StartsWith("AWS4-HMAC-SHA256 ", s.Headers["authorization"], StringComparison.Ordinal));
    }

    [Fact]
    public async Task Server_failures_are_retried_up_to_the_limit_then_thrown()
    {
        using var handler = new FakeKinesisHandler(FakeKinesisHandler.Answer(HttpStatusCode.ServiceUnavailable, "{\"__type\":\"ServiceUnavailable\",\"message\":\"try later\"}"));
        using var client = Client(handler, maxAttempts: 3);

        var error = await Assert.ThrowsAsync<KinesisException>(() => client.DescribeStreamSummaryAsync("s"));

        Assert.Equal(3, handler.Sent.Count);
        Assert.Equal("ServiceUnavailable", error.ErrorCode);
        Assert.Equal("try later", error.ErrorMessage);
        Assert.True(error.IsRetryable);
        Assert.False(error.IsThrottling);
    }

    [Theory]
    [InlineData("ExpiredIteratorException", true, false)]
    [InlineData("com.amazonaws.kinesis.v20131202#ExpiredIteratorException", true, false)]
    [InlineData("ResourceNotFoundException", false, true)]
    [InlineData("InvalidArgumentException", false, false)]
    public async Task Client_errors_are_thrown_at_once_with_their_bare_code(string type, bool expired, bool notFound)
    {
        using var handler = new FakeKinesisHandler(FakeKinesisHandler.Answer(HttpStatusCode.BadRequest, $"{{\"__type\":\"{type}\",\"Message\":\"because\"}}"));
        using var client = Client(handler);

        var error = await Assert.ThrowsAsync<KinesisException>(() => client.GetRecordsAsync("iterator"));

        Assert.Single(handler.Sent);
        Assert.Equal(type[(type.IndexOf('#', StringComparison.Ordinal) + 1)..], error.ErrorCode);
        Assert.Equal("because", error.ErrorMessage);
        Assert.Equal(expired, error.IsExpiredIterator);
        Assert.Equal(notFound, error.IsResourceNotFound);
        Assert.False(error.IsRetryable);
    }

    [Fact]
    public async Task An_error_without_a_json_body_takes_its_code_from_the_header_or_the_status()
    {
        using var handler = new FakeKinesisHandler(
            _ =>
            {
                var response = new HttpResponseMessage(HttpStatusCode.BadRequest) { Content = new StringContent("") };
                response.Headers.Add("x-amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/");
                return response;
            },
            _ => new HttpResponseMessage(HttpStatusCode.BadGateway) { Content = new StringContent("<html>bad gateway</html>") });
        using var client = Client(handler, maxAttempts: 2);

        var error = await Assert.ThrowsAsync<KinesisException>(() => client.DeleteStreamAsync("s"));

        Assert.Equal(2, handler.Sent.Count); // the first, throttling, was retried
        Assert.Equal("Http502", error.ErrorCode);
        Assert.Contains("bad gateway", error.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calls_that_break_the_api_limits_are_refused_before_sending()
    {
        using var handler = new FakeKinesisHandler(FakeKinesisHandler.Answer(HttpStatusCode.OK, "{}"));
        using var client = Client(handler);
        var one = new PutRecordsEntry(new byte[1], "k");

        await Assert.ThrowsAsync<ArgumentException>(() => client.PutRecordsAsync("s", []));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PutRecordsAsync("s", Enumerable.Repeat(one, 501).ToList()));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PutRecordsAsync("s", [one with { PartitionKey = "" }]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PutRecordsAsync("s", [one with { PartitionKey = new string('k', 257) }]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.PutRecordsAsync("s", Enumerable.Repeat(new PutRecordsEntry(new byte[1024 * 1024], "k"), 5).ToList()));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.GetRecordsAsync("i", limit: 10_001));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetShardIteratorAsync("s", "shard", ShardIteratorType.AfterSequenceNumber));
        await Assert.ThrowsAsync<ArgumentException>(() => client.ListShardsAsync("s", nextToken: "t"));
        Assert.Empty(handler.Sent);
    }

    [Fact]
    public async Task PutRecords_encodes_data_as_base64_and_reads_per_entry_results()
    {
        using var handler = new FakeKinesisHandler(FakeKinesisHandler.Answer(HttpStatusCode.OK,
            "{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"shardId-0\"},{\"ErrorCode\":\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"slow down\"}]}"));
        using var client = Client(handler);

        var result = await client.PutRecordsAsync("s", [new PutRecordsEntry("hi"u8.ToArray(), "a"), new PutRecordsEntry(new byte[] { 0xFF }, "b", "42")]);

        Assert.Equal("{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"aGk=\",\"PartitionKey\":\"a\"},{\"Data\":\"/w==\",\"PartitionKey\":\"b\",\"ExplicitHashKey\":\"42\"}]}", handler.Sent.Single().Body);
        Assert.Equal(1, result.FailedRecordCount);
        Assert.True(result.Records[0].IsSuccess);
        Assert.False(result.Records[1].IsSuccess);
        Assert.True(KinesisException.IsThrottlingCode(result.Records[1].ErrorCode));
    }

    [Fact]
    public async Task Network_failures_are_retried_then_surface()
    {
        // Nothing listens on a port we just freed: every attempt is refused.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var client = new KinesisClient(
            new KinesisClientOptions { ServiceUrl = $"http://127.0.0.1:{port}", MaxAttempts = 3, BaseRetryDelay = TimeSpan.FromMilliseconds(5), MaxRetryDelay = TimeSpan.FromMilliseconds(20) },
            EmulatorHost.Credentials);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.DescribeStreamSummaryAsync("any"));
    }
    [Fact]
    public async Task An_attempt_that_gets_no_answer_times_out_and_is_retried_but_caller_cancellation_is_not()
    {
        var calls = 0;
        using var handler = new HangingHandler(() => Interlocked.Increment(ref calls));
        using var client = new KinesisClient(
            new KinesisClientOptions { ServiceUrl = "http://127.0.0.1:1", MaxAttempts = 2, BaseRetryDelay = TimeSpan.FromMilliseconds(1), MaxRetryDelay = TimeSpan.FromMilliseconds(1), RequestTimeout = TimeSpan.FromMilliseconds(50) },
            Credentials,
            handler: handler);

        await Assert.ThrowsAsync<KinesisAttemptTimeoutException>(() => client.GetRecordsAsync("iterator"));
        Assert.Equal(2, calls);

        // The caller gives up while the attempt is in flight (well within its own deadline).
        using var cancel = new CancellationTokenSource();
        var cancelledCalls = 0;
        using var cancellingHandler = new HangingHandler(() =>
        {
            Interlocked.Increment(ref cancelledCalls);
            cancel.Cancel();
        });
        using var patient = new KinesisClient(new KinesisClientOptions { ServiceUrl = "http://127.0.0.1:1" }, Credentials, handler: cancellingHandler);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => patient.GetRecordsAsync("iterator", cancellationToken: cancel.Token));
        Assert.Equal(1, cancelledCalls);
    }

    [Fact]
    public void Backoff_doubles_from_the_base_up_to_the_cap_with_full_jitter()
    {
        var policy = new KinesisRetryPolicy(10, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), new Random(7));

        Assert.Equal(
            new[] { 100, 200, 400, 800, 1000, 1000 },
            Enumerable.Range(1, 6).Select(n => (int)policy.Ceiling(n).TotalMilliseconds));
        Assert.Equal(TimeSpan.FromSeconds(1), policy.Ceiling(1000));

        var delays = Enumerable.Range(0, 500).Select(_ => policy.Delay(3)).ToList();
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.Zero, TimeSpan.FromMilliseconds(400)));
        // Jittered: spread over the range, not all at one value.
        Assert.True(delays.Min() < TimeSpan.FromMilliseconds(100) && delays.Max() > TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void Only_transient_failures_are_retried_and_never_past_the_attempt_limit()
    {
        var policy = new KinesisRetryPolicy(3, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1));
        var throttled = new KinesisException("ProvisionedThroughputExceededException", "slow", HttpStatusCode.BadRequest);

        Assert.True(policy.ShouldRetry(throttled, 1, CancellationToken.None));
        Assert.True(policy.ShouldRetry(new HttpRequestException("refused"), 2, CancellationToken.None));
        Assert.False(policy.ShouldRetry(throttled, 3, CancellationToken.None));
        Assert.False(policy.ShouldRetry(throttled, 1, new CancellationToken(canceled: true)));
        Assert.False(policy.ShouldRetry(new KinesisException("ExpiredIteratorException", "old", HttpStatusCode.BadRequest), 1, CancellationToken.None));
        Assert.False(policy.ShouldRetry(new InvalidOperationException(), 1, CancellationToken.None));
    }

    /// <summary>Never answers: every call waits until it is cancelled.</summary>
    private sealed class HangingHandler(Action onCall) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            onCall();
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }
}
