using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Amazon.Runtime;
using Analytics.Aws.Kinesis;
using Microsoft.Extensions.Logging.Abstractions;
using static Analytics.Kinesis.Tests.KinesisTestStreams;

namespace Analytics.Kinesis.Tests;

/// <summary>
/// The writer's and reader's handling of partial failures, throttling, expired iterators and the
/// read rate, against scripted answers (kinesis-mock never throttles nor expires iterators).
/// </summary>
public sealed class KinesisScriptedTests
{
    private const string Stream = "scripted";

    private static readonly string Throttled = "{\"__type\":\"ProvisionedThroughputExceededException\",\"message\":\"Rate exceeded for shard\"}";

    private static KinesisClient Client(ScriptedKinesis handler) => new(
        // One attempt per call: the writer's and reader's own retries are what is tested here.
        new KinesisClientOptions { ServiceUrl = "http://127.0.0.1:1", MaxAttempts = 1 },
        new BasicAWSCredentials("test", "test"),
        handler: handler);

    private static KinesisStreamOptions Options(TimeSpan? putRetryTimeout = null, TimeSpan? minPollInterval = null) => new()
    {
        StreamName = Stream,
        PutRetryTimeout = putRetryTimeout ?? TimeSpan.FromSeconds(10),
        MinPollInterval = minPollInterval ?? TimeSpan.Zero,
        MaxReadBackoff = TimeSpan.FromMilliseconds(300),
    };

    private static KinesisShardReader Reader(KinesisClient client, KinesisStreamOptions options) =>
        new(client, options, "shardId-0", TimeProvider.System, NullLogger<KinesisShardReader>.Instance);

    private static KinesisQueueWriter Writer(KinesisClient client, KinesisStreamOptions options) =>
        new(client, options, TimeProvider.System, NullLogger<KinesisQueueWriter>.Instance);

    private static string PutResults(int count, Func<int, bool>? failed = null, string errorCode = "ProvisionedThroughputExceededException") =>
        JsonSerializer.Serialize(new
        {
            FailedRecordCount = Enumerable.Range(0, count).Count(i => failed?.Invoke(i) == true),
            Records = Enumerable.Range(0, count).Select(i => failed?.Invoke(i) == true
                ? (object)new { ErrorCode = errorCode, ErrorMessage = "no" }
                : new { SequenceNumber = (1000 + i).ToString(CultureInfo.InvariantCulture), ShardId = "shardId-0" }),
        });

    private static string Data(JsonElement entry) => Encoding.UTF8.GetString(entry.GetProperty("Data").GetBytesFromBase64());

    [Fact]
    public async Task Only_the_failed_entries_of_a_put_are_sent_again()
    {
        using var handler = new ScriptedKinesis((call, body) => call switch
        {
            1 => (HttpStatusCode.OK, PutResults(4, i => i is 1 or 3)),
            2 => (HttpStatusCode.OK, PutResults(2, i => i == 1)),
            _ => (HttpStatusCode.OK, PutResults(1)),
        });
        using var client = Client(handler);

        await Writer(client, Options()).AppendAsync([Record("a", "r0"), Record("b", "r1"), Record("a", "r2"), Record("c", "r3")], CancellationToken.None);

        var sent = handler.Calls.Select(c => c.Body.GetProperty("Records").EnumerateArray().Select(Data).ToList()).ToList();
        Assert.Equal([["r0", "r1", "r2", "r3"], ["r1", "r3"], ["r3"]], sent);
        Assert.Equal(["a", "b", "a", "c"], handler.Calls[0].Body.GetProperty("Records").EnumerateArray().Select(e => e.GetProperty("PartitionKey").GetString()));
    }

    [Fact]
    public async Task A_put_that_keeps_failing_gives_up_after_the_retry_timeout_and_a_refused_record_at_once()
    {
        using var throttled = new ScriptedKinesis((_, body) => (HttpStatusCode.OK, PutResults(body.GetProperty("Records").GetArrayLength(), i => i == 0)));
        using var client = Client(throttled);
        var stopwatch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<TimeoutException>(
            () => Writer(client, Options(putRetryTimeout: TimeSpan.FromMilliseconds(500))).AppendAsync([Record("a", "r0"), Record("b", "r1")], CancellationToken.None));
        Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Contains("1 of 2 records were still not written", error.Message, StringComparison.Ordinal);
        Assert.True(throttled.Calls.Count >= 2);

        using var refused = new ScriptedKinesis((_, _) => (HttpStatusCode.OK, PutResults(1, _ => true, "ValidationException")));
        using var refusingClient = Client(refused);
        var refusal = await Assert.ThrowsAsync<InvalidOperationException>(() => Writer(refusingClient, Options()).AppendAsync([Record("a", "r0")], CancellationToken.None));
        Assert.Contains("ValidationException", refusal.Message, StringComparison.Ordinal);
        Assert.Single(refused.Calls);
    }

    [Fact]
    public async Task Appends_are_split_into_batches_of_at_most_500_records_and_5_MiB_and_each_key_is_its_own_affinity()
    {
        using var handler = new ScriptedKinesis((_, body) => (HttpStatusCode.OK, PutResults(body.GetProperty("Records").GetArrayLength())));
        using var client = Client(handler);
        var writer = Writer(client, Options());
        Assert.Equal("sensor-7", writer.GetQueueAffinity("sensor-7"));

        await writer.AppendAsync(Enumerable.Range(0, 1200).Select(i => Record($"k{i % 9}", $"r{i}")).ToList(), CancellationToken.None);
        Assert.Equal([500, 500, 200], handler.Calls.Select(c => c.Body.GetProperty("Records").GetArrayLength()));
        Assert.Equal(Enumerable.Range(0, 1200).Select(i => $"r{i}"), handler.Calls.SelectMany(c => c.Body.GetProperty("Records").EnumerateArray().Select(Data)));

        handler.Calls.Clear();
        // Records of 1 MiB plus their keys: five would pass 5 MiB by the keys' few bytes.
        var big = new string('x', 1024 * 1024);
        await writer.AppendAsync(Enumerable.Range(0, 9).Select(i => Record($"k{i}", big)).ToList(), CancellationToken.None);
        Assert.Equal([4, 4, 1], handler.Calls.Select(c => c.Body.GetProperty("Records").GetArrayLength()));
        await Assert.ThrowsAsync<ArgumentException>(() => writer.AppendAsync([Record("", "x")], CancellationToken.None));
    }

    [Fact]
    public async Task An_expired_iterator_is_replaced_from_after_the_last_record_read()
    {
        using var handler = new ScriptedKinesis((call, _) => call switch
        {
            1 => (HttpStatusCode.OK, "{\"ShardIterator\":\"it-1\"}"),
            2 => (HttpStatusCode.OK, "{\"Records\":[{\"SequenceNumber\":\"15\",\"PartitionKey\":\"a\",\"Data\":\"cjE=\"}],\"NextShardIterator\":\"it-2\",\"MillisBehindLatest\":1500}"),
            3 => (HttpStatusCode.BadRequest, "{\"__type\":\"ExpiredIteratorException\",\"message\":\"Iterator expired\"}"),
            4 => (HttpStatusCode.OK, "{\"ShardIterator\":\"it-3\"}"),
            _ => (HttpStatusCode.OK, "{\"Records\":[{\"SequenceNumber\":\"17\",\"PartitionKey\":\"a\",\"Data\":\"cjI=\"}],\"NextShardIterator\":\"it-4\",\"MillisBehindLatest\":0}"),
        });
        using var client = Client(handler);
        await using var reader = Reader(client, Options());

        await reader.InitializeAsync(new QueuePosition("10"), CancellationToken.None);
        Assert.Equal("AFTER_SEQUENCE_NUMBER", handler.Calls[0].Body.GetProperty("ShardIteratorType").GetString());
        Assert.Equal("10", handler.Calls[0].Body.GetProperty("StartingSequenceNumber").GetString());

        var first = await reader.ReadAsync(10, CancellationToken.None);
        Assert.Equal(new QueuePosition("15"), Assert.Single(first).Position);
        Assert.Equal("a", first[0].StreamKey);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), reader.Lag);

        Assert.Empty(await reader.ReadAsync(10, CancellationToken.None));
        Assert.Equal("AFTER_SEQUENCE_NUMBER", handler.Calls[3].Body.GetProperty("ShardIteratorType").GetString());
        Assert.Equal("15", handler.Calls[3].Body.GetProperty("StartingSequenceNumber").GetString());

        var second = await reader.ReadAsync(10, CancellationToken.None);
        Assert.Equal("r2", Text(Assert.Single(second)));
        Assert.Equal("it-3", handler.Calls[4].Body.GetProperty("ShardIterator").GetString());
        Assert.Equal(TimeSpan.Zero, reader.Lag);
    }

    [Fact]
    public async Task Reads_keep_the_minimum_interval_and_back_off_when_throttled()
    {
        using var handler = new ScriptedKinesis((call, _) => call switch
        {
            1 => (HttpStatusCode.OK, "{\"ShardIterator\":\"it\"}"),
            3 => (HttpStatusCode.BadRequest, Throttled),
            _ => (HttpStatusCode.OK, "{\"Records\":[],\"NextShardIterator\":\"it\",\"MillisBehindLatest\":0}"),
        });
        using var client = Client(handler);
        await using var reader = Reader(client, Options(minPollInterval: TimeSpan.FromMilliseconds(200)));
        await reader.InitializeAsync(null, CancellationToken.None);
        Assert.Equal("TRIM_HORIZON", handler.Calls[0].Body.GetProperty("ShardIteratorType").GetString());

        // The first read goes at once; the second waits out the 200 ms and is throttled, which the
        // reader absorbs; the third waits out the backoff (more than the interval).
        await reader.ReadAsync(10, CancellationToken.None);
        var stopwatch = Stopwatch.StartNew();
        Assert.Empty(await reader.ReadAsync(10, CancellationToken.None));
        Assert.InRange(stopwatch.ElapsedMilliseconds, 180, 2000);
        stopwatch.Restart();
        Assert.Empty(await reader.ReadAsync(10, CancellationToken.None));
        Assert.InRange(stopwatch.ElapsedMilliseconds, 280, 2000);
        Assert.Equal(4, handler.Calls.Count);
    }

    [Fact]
    public async Task A_closed_shard_ends_after_its_last_records_and_a_start_inside_an_aggregate_reads_it_again()
    {
        using var handler = new ScriptedKinesis((call, _) => call switch
        {
            1 => (HttpStatusCode.OK, "{\"ShardIterator\":\"it\"}"),
            _ => (HttpStatusCode.OK, "{\"Records\":[{\"SequenceNumber\":\"21\",\"PartitionKey\":\"a\",\"Data\":\"cjE=\"}],\"ChildShards\":[{\"ShardId\":\"shardId-000000000002\",\"ParentShards\":[\"shardId-0\"]}]}"),
        });
        using var client = Client(handler);
        await using var reader = Reader(client, Options());

        await reader.InitializeAsync(new QueuePosition("20", 3 * KinesisShardReader.UserRecordStride), CancellationToken.None);
        Assert.Equal("AT_SEQUENCE_NUMBER", handler.Calls[0].Body.GetProperty("ShardIteratorType").GetString());
        Assert.False(reader.IsAtEnd);
        Assert.Single(await reader.ReadAsync(10, CancellationToken.None));
        Assert.True(reader.IsAtEnd);
        Assert.Equal("shardId-000000000002", Assert.Single(reader.ChildShards).ShardId);
        Assert.Empty(await reader.ReadAsync(10, CancellationToken.None));
        Assert.Equal(2, handler.Calls.Count);
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Null(Options().Validate());
        Assert.Contains("StreamName", new KinesisStreamOptions().Validate(), StringComparison.Ordinal);
        Assert.Contains("not a Kinesis stream name", new KinesisStreamOptions { StreamName = "a b" }.Validate(), StringComparison.Ordinal);
        Assert.Contains("PutRetryTimeout", new KinesisStreamOptions { StreamName = "s", PutRetryTimeout = TimeSpan.Zero }.Validate(), StringComparison.Ordinal);
        Assert.Contains("MinPollInterval", new KinesisStreamOptions { StreamName = "s", MinPollInterval = TimeSpan.FromMilliseconds(-1) }.Validate(), StringComparison.Ordinal);
        Assert.Contains("ShardRefreshInterval", new KinesisStreamOptions { StreamName = "s", ShardRefreshInterval = TimeSpan.Zero }.Validate(), StringComparison.Ordinal);
        Assert.Contains("MaxRecordsPerRead", new KinesisStreamOptions { StreamName = "s", MaxRecordsPerRead = 10_001 }.Validate(), StringComparison.Ordinal);
        Assert.Contains("LeaseLength", new KinesisStreamOptions { StreamName = "s", LeaseLength = TimeSpan.Zero }.Validate(), StringComparison.Ordinal);
        Assert.Contains("at most half of LeaseLength", new KinesisStreamOptions { StreamName = "s", LeaseLength = TimeSpan.FromSeconds(5), LeaseRenewPeriod = TimeSpan.FromSeconds(3) }.Validate(), StringComparison.Ordinal);
        Assert.Contains("LeaseGroup", new KinesisStreamOptions { StreamName = "s", LeaseGroup = " " }.Validate(), StringComparison.Ordinal);
        Assert.True(new KinesisStreamOptionsValidator().Validate("p", new KinesisStreamOptions()).Failed);
        using var client = Client(new ScriptedKinesis((_, _) => (HttpStatusCode.OK, "{}")));
        Assert.Throws<ArgumentException>(() => Writer(client, new KinesisStreamOptions()));
    }

    [Fact]
    public void A_shard_is_a_queue_named_by_its_id()
    {
        var queue = KinesisQueueIds.ForShard("shardId-000000000011");
        Assert.Equal("shardId-000000000011", KinesisQueueIds.ShardOf(queue));
        Assert.Equal(11u, queue.GetNumericId());
        Assert.Equal(queue, KinesisQueueIds.ForShard("shardId-000000000011"));
        Assert.NotEqual(queue, KinesisQueueIds.ForShard("shardId-000000000012"));
        Assert.Equal("odd", KinesisQueueIds.ShardOf(KinesisQueueIds.ForShard("odd")));
    }

    /// <summary>Answers each call from a function of its 1-based number and JSON body, and keeps the bodies.</summary>
    private sealed class ScriptedKinesis(Func<int, JsonElement, (HttpStatusCode Status, string Json)> answer) : HttpMessageHandler
    {
        public List<(string Action, JsonElement Body)> Calls { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = JsonDocument.Parse(await request.Content!.ReadAsStringAsync(cancellationToken)).RootElement.Clone();
            var action = request.Headers.GetValues("X-Amz-Target").Single().Split('.')[^1];
            Calls.Add((action, body));
            var (status, json) = answer(Calls.Count, body);
            return new HttpResponseMessage(status) { Content = new StringContent(json, Encoding.UTF8, "application/x-amz-json-1.1") };
        }
    }
}
