using System.Net;
using System.Net.Sockets;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Analytics.Aws.DynamoDB;
using Analytics.Streaming.Kinesis;
using Analytics.Aws.Kinesis;
using Analytics.Testing.AwsFaultProxy;
using static Analytics.Aws.Tests.KinesisTestStreams;

namespace Analytics.Aws.Tests;

/// <summary>The fault proxy in front of the real emulators, driven by our Kinesis client and the DynamoDB SDK.</summary>
[Collection(EmulatorCollection.Name)]
public sealed class AwsFaultProxyTests(EmulatorHost emulators) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    // Setup and read-back go straight to the emulators, so that only the calls under test pass the proxy.
    private readonly KinesisClient _kinesis = emulators.CreateKinesisClient();
    private readonly AmazonDynamoDBClient _dynamoDb = emulators.CreateDynamoDbClient();

    public void Dispose()
    {
        _kinesis.Dispose();
        _dynamoDb.Dispose();
    }

    // Short backoff: the tests count attempts, they need not wait out real throttling.
    private KinesisClient KinesisVia(AwsFaultProxy proxy, int maxAttempts = 5) => emulators.CreateKinesisClient(o =>
    {
        o.ServiceUrl = proxy.Url.ToString();
        o.MaxAttempts = maxAttempts;
        o.BaseRetryDelay = TimeSpan.FromMilliseconds(5);
        o.MaxRetryDelay = TimeSpan.FromMilliseconds(50);
    });

    private static AmazonDynamoDBClient DynamoDbVia(AwsFaultProxy proxy, int? maxErrorRetry = null)
    {
        var config = new AmazonDynamoDBConfig { ServiceURL = proxy.Url.ToString(), AuthenticationRegion = EmulatorHost.Region };
        if (maxErrorRetry is { } retries)
        {
            config.MaxErrorRetry = retries;
        }

        return new AmazonDynamoDBClient(EmulatorHost.Credentials, config);
    }

    private async Task<string> CreateTableAsync()
    {
        var table = EmulatorHost.UniqueName("proxy");
        await _dynamoDb.CreateTableAsync(new CreateTableRequest
        {
            TableName = table,
            KeySchema = [new KeySchemaElement("id", KeyType.HASH)],
            AttributeDefinitions = [new AttributeDefinition("id", ScalarAttributeType.S)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
        });

        // dynalite keeps a new table CREATING for a moment, and refuses writes until it is ACTIVE.
        var deadline = DateTime.UtcNow + Timeout;
        while ((await _dynamoDb.DescribeTableAsync(table)).Table.TableStatus != TableStatus.ACTIVE)
        {
            Assert.True(DateTime.UtcNow < deadline, $"Table {table} did not become ACTIVE.");
            await Task.Delay(50);
        }

        return table;
    }

    private static Dictionary<string, AttributeValue> Item(string id, string value) =>
        new() { ["id"] = new AttributeValue(id), ["v"] = new AttributeValue(value) };

    [Fact]
    public async Task Kinesis_operations_through_the_proxy_are_counted_exactly()
    {
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.KinesisUrl);
        using var client = KinesisVia(proxy);
        var stream = await CreateAsync(client, "proxy-count", shards: 1);
        Assert.Equal(1, proxy.Count("CreateStream"));
        Assert.True(proxy.Count("DescribeStreamSummary") >= 1);

        proxy.ResetCounts();
        Assert.Empty(proxy.Counts);
        for (var i = 0; i < 3; i++)
        {
            await client.PutRecordsAsync(stream, [Entry("k", $"r{i}"), Entry("k", $"s{i}")]);
        }

        var shard = Assert.Single(await client.ListAllShardsAsync(stream));
        var iterator = await client.GetShardIteratorAsync(stream, shard.ShardId, ShardIteratorType.TrimHorizon);
        var page = await client.GetRecordsAsync(iterator);
        await client.GetRecordsAsync(page.NextShardIterator!);

        Assert.Equal(6, page.Records.Count);
        Assert.Equal(
            new Dictionary<string, long> { ["PutRecords"] = 3, ["ListShards"] = 1, ["GetShardIterator"] = 1, ["GetRecords"] = 2 },
            proxy.Counts);
        Assert.Equal(2, proxy.Count("Kinesis_20131202.GetRecords"));
        Assert.Empty(proxy.InjectedCounts);
    }

    [Fact]
    public async Task DynamoDB_writes_through_the_proxy_are_counted_exactly_also_when_concurrent()
    {
        var table = await CreateTableAsync();
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var client = DynamoDbVia(proxy);

        await client.PutItemAsync(table, Item("a", "1"));
        await client.PutItemAsync(table, Item("b", "1"));
        await client.UpdateItemAsync(new UpdateItemRequest
        {
            TableName = table,
            Key = new() { ["id"] = new AttributeValue("a") },
            UpdateExpression = "SET v = :v",
            ExpressionAttributeValues = new() { [":v"] = new AttributeValue("2") },
        });
        await client.BatchWriteItemAsync(new Dictionary<string, List<WriteRequest>>
        {
            [table] = [new WriteRequest(new PutRequest(Item("c", "1"))), new WriteRequest(new PutRequest(Item("d", "1")))],
        });
        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => client.GetItemAsync(table, new() { ["id"] = new AttributeValue("a") })));

        Assert.Equal(
            new Dictionary<string, long> { ["PutItem"] = 2, ["UpdateItem"] = 1, ["BatchWriteItem"] = 1, ["GetItem"] = 40 },
            proxy.Counts);
        // The writes went through unchanged: the emulator holds them.
        var a = await _dynamoDb.GetItemAsync(table, new() { ["id"] = new AttributeValue("a") }, consistentRead: true);
        Assert.Equal("2", a.Item["v"].S);
        Assert.Equal(4, (await _dynamoDb.ScanAsync(new ScanRequest(table))).Count);
    }

    [Fact]
    public async Task The_first_three_DynamoDB_PutItems_are_throttled_and_the_retries_still_write_the_item()
    {
        var table = await CreateTableAsync();
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var client = DynamoDbVia(proxy);
        proxy.Throttle("PutItem", firstN: 3);

        using var cancel = new CancellationTokenSource(Timeout);
        // The SDK retries first; DynamoDBRetry takes over if the SDK gives up before the fourth attempt.
        await DynamoDBRetry.RunAsync(ct => client.PutItemAsync(table, Item("x", "1"), ct), cancel.Token);

        Assert.Equal(3, proxy.Injected("PutItem"));
        Assert.Equal(4, proxy.Count("PutItem"));
        var stored = await _dynamoDb.GetItemAsync(table, new() { ["id"] = new AttributeValue("x") }, consistentRead: true);
        Assert.Equal("1", stored.Item["v"].S);
    }

    [Theory]
    [InlineData(FaultKind.ProvisionedThroughputExceeded)]
    [InlineData(FaultKind.Throttling)]
    [InlineData(FaultKind.ServiceUnavailable)]
    public async Task An_injected_fault_reads_as_the_services_own_error(FaultKind kind)
    {
        var table = await CreateTableAsync();
        await using var dynamoDbProxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var dynamoDb = DynamoDbVia(dynamoDbProxy, maxErrorRetry: 0);
        dynamoDbProxy.Throttle("GetItem", firstN: 1, kind: kind);

        var error = await Assert.ThrowsAnyAsync<AmazonServiceException>(() => dynamoDb.GetItemAsync(table, new() { ["id"] = new AttributeValue("x") }));
        Assert.True(DynamoDBRetry.IsRetryable(error), error.ToString());
        switch (kind)
        {
            case FaultKind.ProvisionedThroughputExceeded:
                Assert.IsType<ProvisionedThroughputExceededException>(error);
                Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
                break;
            case FaultKind.Throttling:
                Assert.Equal("ThrottlingException", error.ErrorCode);
                Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
                break;
            default:
                Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
                break;
        }

        await using var kinesisProxy = await AwsFaultProxy.StartAsync(emulators.KinesisUrl);
        using var kinesis = KinesisVia(kinesisProxy, maxAttempts: 1);
        kinesisProxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 1, kind: kind);
        var kinesisError = await Assert.ThrowsAsync<KinesisException>(() => kinesis.ListShardsAsync(EmulatorHost.UniqueName("none")));
        Assert.True(kinesisError.IsRetryable, kinesisError.ToString());
        var (code, status) = kind switch
        {
            FaultKind.ProvisionedThroughputExceeded => ("ProvisionedThroughputExceededException", HttpStatusCode.BadRequest),
            FaultKind.Throttling => ("ThrottlingException", HttpStatusCode.BadRequest),
            _ => ("ServiceUnavailable", HttpStatusCode.ServiceUnavailable),
        };
        Assert.Equal(code, kinesisError.ErrorCode);
        Assert.Equal(status, kinesisError.StatusCode);

        // Only the first request was faulted: the next one reaches the emulator, which knows no such stream.
        var next = await Assert.ThrowsAsync<KinesisException>(() => kinesis.ListShardsAsync(EmulatorHost.UniqueName("none")));
        Assert.True(next.IsResourceNotFound, next.ToString());
        Assert.Equal(1, kinesisProxy.Injected("ListShards"));
    }

    [Fact]
    public async Task A_throttled_Kinesis_GetRecords_is_retried_by_the_client_and_succeeds()
    {
        var stream = await CreateAsync(_kinesis, "proxy-get", shards: 1);
        var put = await _kinesis.PutRecordsAsync(stream, Enumerable.Range(0, 5).Select(i => Entry("k", $"r{i}")).ToList());
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.KinesisUrl);
        using var client = KinesisVia(proxy);
        proxy.Throttle("GetRecords", firstN: 2);

        var iterator = await client.GetShardIteratorAsync(stream, put.Records[0].ShardId!, ShardIteratorType.TrimHorizon);
        var page = await client.GetRecordsAsync(iterator);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"r{i}"), page.Records.Select(Text));
        Assert.Equal(2, proxy.Injected("GetRecords"));
        Assert.Equal(3, proxy.Count("GetRecords"));
        Assert.Equal(0, proxy.Injected("GetShardIterator"));
    }

    [Fact]
    public async Task Every_nth_request_fails_until_the_faults_are_cleared()
    {
        var stream = await CreateAsync(_kinesis, "proxy-nth", shards: 1);
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.KinesisUrl);
        using var client = KinesisVia(proxy, maxAttempts: 1);
        proxy.Throttle("ListShards", everyNth: 3, kind: FaultKind.Throttling);

        var outcomes = new List<bool>();
        for (var i = 0; i < 6; i++)
        {
            try
            {
                await client.ListShardsAsync(stream);
                outcomes.Add(true);
            }
            catch (KinesisException e) when (e.ErrorCode == "ThrottlingException")
            {
                outcomes.Add(false);
            }
        }

        Assert.Equal([true, true, false, true, true, false], outcomes);
        proxy.ClearFaults();
        for (var i = 0; i < 3; i++)
        {
            await client.ListShardsAsync(stream);
        }

        Assert.Equal(2, proxy.Injected("ListShards"));
        Assert.Equal(9, proxy.Count("ListShards"));
    }

    [Fact]
    public async Task A_partly_failed_PutRecords_answers_in_request_order_and_the_stream_holds_only_the_written_entries()
    {
        var stream = await CreateAsync(_kinesis, "proxy-partial", shards: 1);
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.KinesisUrl);
        using var client = KinesisVia(proxy, maxAttempts: 1);
        proxy.FailPutRecordsEntries(0.5);

        var result = await client.PutRecordsAsync(stream, Enumerable.Range(0, 40).Select(i => Entry($"k{i % 4}", $"r{i}")).ToList());

        Assert.Equal(40, result.Records.Count);
        var failed = result.Records.Count(r => !r.IsSuccess);
        // All 40 kept or all failed has a chance of 2^-39.
        Assert.InRange(failed, 1, 39);
        Assert.Equal(failed, result.FailedRecordCount);
        Assert.Equal(failed, proxy.FailedPutRecordsEntries);
        Assert.All(result.Records.Where(r => !r.IsSuccess), r => Assert.Equal("ProvisionedThroughputExceededException", r.ErrorCode));

        var written = Enumerable.Range(0, 40).Where(i => result.Records[i].IsSuccess).ToList();
        var read = (await ReadShardAsync(_kinesis, stream, result.Records[written[0]].ShardId!)).Records;
        Assert.Equal(written.Select(i => $"r{i}"), read.Select(Text));
        Assert.Equal(written.Select(i => result.Records[i].SequenceNumber), read.Select(r => r.SequenceNumber));
    }

    [Fact]
    public async Task The_queue_adapter_delivers_every_record_exactly_once_through_partial_PutRecords_failures()
    {
        const int count = 1200;
        var stream = await CreateAsync(_kinesis, "proxy-adapter", shards: 2);
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.KinesisUrl);
        using var client = KinesisVia(proxy);
        var adapter = new KinesisQueueWriter(client, new KinesisStreamOptions { StreamName = stream, PutRetryTimeout = Timeout }, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<KinesisQueueWriter>.Instance);
        proxy.FailPutRecordsEntries(0.2);

        var records = Enumerable.Range(0, count)
            .Select(n => ($"key-{n % 50}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"record-{n}")))
            .ToList();
        await adapter.AppendAsync(records, CancellationToken.None);

        var read = new List<string>();
        foreach (var shard in await _kinesis.ListAllShardsAsync(stream))
        {
            read.AddRange((await ReadShardAsync(_kinesis, stream, shard.ShardId)).Records.Select(Text));
        }

        // The proxy forwarded only the entries it reported written, so no retry duplicates one.
        Assert.Equal(count, read.Count);
        Assert.Equal(count, read.Distinct().Count());
        Assert.Equal(records.Select(r => Encoding.UTF8.GetString(r.Item2.Span)).Order(), read.Order());
        Assert.True(proxy.FailedPutRecordsEntries > 0);
        // Three batches of at most 500, and at least one re-send of failed entries.
        Assert.True(proxy.Count("PutRecords") > 3, $"{proxy.Count("PutRecords")} PutRecords calls");
    }

    [Fact]
    public async Task A_disposed_proxy_no_longer_accepts_connections()
    {
        var proxy = await AwsFaultProxy.StartAsync(emulators.KinesisUrl);
        var port = proxy.Url.Port;
        using (var client = KinesisVia(proxy, maxAttempts: 1))
        {
            // A live keep-alive connection must not keep the port open either.
            await Assert.ThrowsAsync<KinesisException>(() => client.ListShardsAsync(EmulatorHost.UniqueName("none")));
            await proxy.DisposeAsync();
            await Assert.ThrowsAsync<HttpRequestException>(() => client.ListShardsAsync(EmulatorHost.UniqueName("none")));
        }

        using var tcp = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => tcp.ConnectAsync(IPAddress.Loopback, port));
        await proxy.DisposeAsync();
    }
}
