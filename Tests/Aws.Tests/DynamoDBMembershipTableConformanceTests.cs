using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Analytics.Aws.DynamoDB;
using Analytics.Runtime.Aws.DynamoDB;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Analytics.Testing.AwsFaultProxy;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Aws.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class DynamoDBMembershipTableConformanceTests(EmulatorHost emulators) : MembershipTableConformanceTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    // One table for the class (dynalite keeps a new table CREATING for 0.5 s); the tests differ by cluster id.
    private static readonly string SharedPrefix = EmulatorHost.UniqueName("members") + "-";

    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();

    protected override IMembershipTable CreateTable(string clusterId) => CreateTable(_client, clusterId);

    private static DynamoDBMembershipTable CreateTable(IAmazonDynamoDB client, string clusterId, string? prefix = null, bool createTables = true) =>
        new(client, new DynamoDBOptions { TablePrefix = prefix ?? SharedPrefix, CreateTables = createTables }, clusterId);

    public override Task DisposeAsync()
    {
        _client.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Through the proxy, with the SDK's own retries off: <see cref="DynamoDBRetry"/> does them, quickly.</summary>
    private static AmazonDynamoDBClient ClientVia(Uri url, HttpClientFactory? http = null) => new(
        EmulatorHost.Credentials,
        new AmazonDynamoDBConfig { ServiceURL = url.ToString(), AuthenticationRegion = EmulatorHost.Region, MaxErrorRetry = 0, HttpClientFactory = http });

    [Fact]
    public async Task The_table_is_created_when_missing_with_the_cluster_and_row_keys()
    {
        var prefix = EmulatorHost.UniqueName("created") + "-";
        var table = CreateTable(_client, ClusterId, prefix);
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => _client.DescribeTableAsync(table.TableName));
        await Assert.ThrowsAsync<InvalidOperationException>(() => CreateTable(_client, ClusterId, prefix, createTables: false).InitializeAsync(default));

        await table.InitializeAsync(default);

        var description = (await _client.DescribeTableAsync(table.TableName)).Table;
        Assert.Equal(prefix + "membership", description.TableName);
        Assert.Equal(TableStatus.ACTIVE, description.TableStatus);
        Assert.Equal(
            [("cluster", KeyType.HASH), ("rowKey", KeyType.RANGE)],
            description.KeySchema.Select(k => (k.AttributeName, k.KeyType)));
        await table.InitializeAsync(default); // and again, when it exists
        Assert.True(await table.InsertRowAsync(Entry(Silo(1)), (await table.ReadAllAsync(default)).Version.Next(), default));
    }

    [Fact]
    public async Task Throttled_calls_are_retried_and_the_writes_succeed()
    {
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var client = ClientVia(proxy.Url);
        var table = CreateTable(client, ClusterId);
        using var cancel = new CancellationTokenSource(Timeout);
        // DescribeTable is a control-plane call: DynamoDB throttles it as ThrottlingException, not as
        // ProvisionedThroughputExceeded (which the SDK does not model for it, and DynamoDBRetry does not recognize then).
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 3, kind: FaultKind.Throttling);
        await table.InitializeAsync(cancel.Token);
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 3);
        Assert.True(await table.InsertRowAsync(Entry(Silo(1)), (await table.ReadAllAsync(cancel.Token)).Version.Next(), cancel.Token));
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 3);
        var snapshot = await table.ReadAllAsync(cancel.Token);
        Assert.True(await table.UpdateRowAsync(Entry(Silo(1), SiloStatus.Active), Assert.Single(snapshot.Entries).ETag, snapshot.Version.Next(), cancel.Token));
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 3);
        await table.UpdateIAmAliveAsync(Silo(1), T0.AddSeconds(5), cancel.Token);

        Assert.Equal(12, proxy.InjectedCounts.Values.Sum());
        var (entry, _) = Assert.Single((await ReadAsync()).Entries);
        Assert.Equal(SiloStatus.Active, entry.Status);
        Assert.Equal(T0.AddSeconds(5), entry.IAmAliveTime);
        Assert.Equal(2, (await ReadAsync()).Version.Version);
    }

    [Fact]
    public async Task A_change_held_up_between_its_claim_and_its_row_write_cannot_land_after_a_later_change()
    {
        // Silos 1 and 2 each decide to declare the other dead, each from a read where it is itself Active.
        await InsertAsync(Entry(Silo(1), SiloStatus.Active), Entry(Silo(2), SiloStatus.Active));
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var slowClient = ClientVia(proxy.Url);
        proxy.Throttle("PutItem", firstN: int.MaxValue);
        var read1 = await ReadAsync();
        var silo1Declares = CreateTable(slowClient, ClusterId).UpdateRowAsync(
            Entry(Silo(2), SiloStatus.Dead), read1.Entries.Single(e => e.Entry.Silo == Silo(2)).ETag, read1.Version.Next(), default);
        await WaitUntilAsync(() => proxy.Injected("PutItem") > 0); // claimed the version, held up writing the row

        var read2 = await ReadAsync();
        Assert.Equal(read1.Version.Version + 1, read2.Version.Version);
        Assert.All(read2.Entries, e => Assert.Equal(SiloStatus.Active, e.Entry.Status)); // its change has not landed
        var silo2Declares = await Table.UpdateRowAsync(
            Entry(Silo(1), SiloStatus.Dead), read2.Entries.Single(e => e.Entry.Silo == Silo(1)).ETag, read2.Version.Next(), default);
        proxy.ClearFaults();

        // Both answered true would be the mutual kill the version row is there to prevent.
        Assert.True(silo2Declares);
        Assert.False(await silo1Declares.WaitAsync(Timeout));
        var final = await ReadAsync();
        Assert.Equal(SiloStatus.Dead, final.Entries.Single(e => e.Entry.Silo == Silo(1)).Entry.Status);
        Assert.Equal(SiloStatus.Active, final.Entries.Single(e => e.Entry.Silo == Silo(2)).Entry.Status);
    }

    [Fact]
    public async Task A_writer_that_dies_after_claiming_the_version_leaves_only_a_version_bump()
    {
        await InsertAsync(Entry(Silo(1)));
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var slowClient = ClientVia(proxy.Url);
        proxy.Throttle("PutItem", firstN: int.MaxValue);
        using var die = new CancellationTokenSource();
        var before = await ReadAsync();
        var dying = CreateTable(slowClient, ClusterId).InsertRowAsync(Entry(Silo(3)), before.Version.Next(), die.Token);
        await WaitUntilAsync(() => proxy.Injected("PutItem") > 0);
        await die.CancelAsync();
        // Cancelled in its backoff it throws OperationCanceledException; cancelled while a throttled attempt
        // was in flight, DynamoDBRetry gives up with that attempt's throttling error. Either way it is dead.
        var died = await Record.ExceptionAsync(() => dying);
        Assert.True(died is OperationCanceledException or AmazonServiceException, $"The writer died of {died}");

        var after = await ReadAsync();
        Assert.Equal(before.Version.Version + 1, after.Version.Version);
        Assert.Equal([Silo(1)], after.Entries.Select(e => e.Entry.Silo));
        // The next writer fences the unfinished insert and inserts the same silo itself.
        Assert.True(await Table.InsertRowAsync(Entry(Silo(3), name: "second try"), after.Version.Next(), default));
        Assert.Equal("second try", (await RowAsync(Silo(3))).Entry.SiloName);
        Assert.Equal(2, (await ReadAsync()).Entries.Count);
    }

    [Fact]
    public async Task A_row_write_whose_answer_was_lost_and_retried_is_still_reported_as_won()
    {
        await InsertAsync(Entry(Silo(1)));
        var http = new LoseFirstAnswerFactory("PutItem");
        using var client = ClientVia(emulators.DynamoDbUrl, http);
        var snapshot = await ReadAsync();

        Assert.True(await CreateTable(client, ClusterId).UpdateRowAsync(
            Entry(Silo(1), SiloStatus.Active), Assert.Single(snapshot.Entries).ETag, snapshot.Version.Next(), default));

        Assert.Equal(1, http.Lost);
        Assert.Equal(SiloStatus.Active, (await RowAsync(Silo(1))).Entry.Status);
    }

    [Fact]
    public async Task A_dead_row_changed_between_the_cleanups_read_and_its_delete_is_kept()
    {
        await InsertAsync(Entry(Silo(1), SiloStatus.Dead), Entry(Silo(2), SiloStatus.Dead));
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var slowClient = ClientVia(proxy.Url);
        proxy.Throttle("DeleteItem", firstN: int.MaxValue);
        var cleanup = CreateTable(slowClient, ClusterId).CleanupDefunctSiloEntriesAsync(T0.AddDays(1), default);
        await WaitUntilAsync(() => proxy.Injected("DeleteItem") > 0); // read both rows Dead, held up deleting

        // One row's status changes; the other is rewritten, still Dead and as old (a new ETag).
        await SetStatusAsync(Silo(1), SiloStatus.ShuttingDown);
        await SetStatusAsync(Silo(2), SiloStatus.Dead, "rewritten");
        proxy.ClearFaults();

        Assert.Equal(0, await cleanup.WaitAsync(Timeout));
        var rows = (await ReadAsync()).Entries;
        Assert.Equal(SiloStatus.ShuttingDown, rows.Single(e => e.Entry.Silo == Silo(1)).Entry.Status);
        Assert.Equal("rewritten", rows.Single(e => e.Entry.Silo == Silo(2)).Entry.SiloName);
        // Read afresh, the one still Dead goes.
        Assert.Equal(1, await Table.CleanupDefunctSiloEntriesAsync(T0.AddDays(1), default));
    }

    [Fact]
    public async Task UseDynamoDBClustering_replaces_the_in_process_table_with_one_for_the_silos_cluster()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DynamoDB:ServiceUrl"] = emulators.DynamoDbUrl.ToString(),
            ["DynamoDB:TablePrefix"] = SharedPrefix,
        }).Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<AWSCredentials>(EmulatorHost.Credentials);
        services.AddDynamoDB(configuration).Configure<SiloOptions>(o => o.ClusterId = ClusterId);

        services.AddSilo(configuration, silo => silo.UseDynamoDBClustering());

        Assert.Single(services, d => d.ServiceType == typeof(IMembershipTable));
        await using var provider = services.BuildServiceProvider();
        var table = Assert.IsType<DynamoDBMembershipTable>(provider.GetRequiredService<IMembershipTable>());
        Assert.Equal(ClusterId, table.ClusterId);
        Assert.Equal(SharedPrefix + "membership", table.TableName);
        await InsertAsync(Entry(Silo(1)));
        Assert.Equal(Silo(1), Assert.Single((await table.ReadAllAsync(default)).Entries).Entry.Silo);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting.");
            await Task.Delay(5);
        }
    }

    /// <summary>Sends the first request of one operation on, then drops its answer as a broken connection would.</summary>
    private sealed class LoseFirstAnswerFactory(string operation) : HttpClientFactory
    {
        private readonly string _suffix = "." + operation;
        private int _lost;

        public int Lost => _lost;

        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Handler(this) { InnerHandler = new HttpClientHandler() });

        private sealed class Handler(LoseFirstAnswerFactory owner) : DelegatingHandler
        {
            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                var response = await base.SendAsync(request, cancellationToken);
                if (request.Headers.TryGetValues("X-Amz-Target", out var targets) && targets.Single().EndsWith(owner._suffix, StringComparison.Ordinal)
                    && Interlocked.CompareExchange(ref owner._lost, 1, 0) == 0)
                {
                    response.Dispose();
                    throw new IOException("The connection broke before the answer arrived.");
                }

                return response;
            }
        }
    }
}
