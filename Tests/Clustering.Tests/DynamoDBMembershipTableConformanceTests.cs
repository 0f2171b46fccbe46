using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Analytics.Aws.Tests;
using Analytics.Clustering.DynamoDB;
using Analytics.Testing.AwsFaultProxy;
using Orleans;
using Orleans.Runtime;
using static Analytics.Clustering.Tests.DynamoDBTestSupport;

namespace Analytics.Clustering.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class DynamoDBMembershipTableConformanceTests(EmulatorHost emulators) : MembershipTableConformanceTests
{
    // One table for the class (dynalite keeps a new table CREATING for 0.5 s); the tests differ by cluster id.
    private static readonly string SharedPrefix = EmulatorHost.UniqueName("members") + "-";

    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();

    protected override IMembershipTable CreateTable(string clusterId) => DynamoDBTestSupport.Table(_client, clusterId, SharedPrefix);

    private DynamoDBMembershipTable TableVia(IAmazonDynamoDB client) => DynamoDBTestSupport.Table(client, ClusterId, SharedPrefix);

    public override Task DisposeAsync()
    {
        _client.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task The_table_is_created_when_missing_with_the_cluster_and_row_keys()
    {
        var prefix = EmulatorHost.UniqueName("created") + "-";
        var table = DynamoDBTestSupport.Table(_client, ClusterId, prefix);
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => _client.DescribeTableAsync(table.TableName));
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => DynamoDBTestSupport.Table(_client, ClusterId, prefix, createTable: false).InitializeMembershipTableAsync(true, default));
        Assert.Contains($"membership table '{prefix}membership' does not exist", refused.Message, StringComparison.Ordinal);

        await table.InitializeMembershipTableAsync(true, default);

        var description = (await _client.DescribeTableAsync(table.TableName)).Table;
        Assert.Equal(prefix + "membership", description.TableName);
        Assert.Equal(TableStatus.ACTIVE, description.TableStatus);
        Assert.Equal([("cluster", KeyType.HASH), ("rowKey", KeyType.RANGE)], description.KeySchema.Select(k => (k.AttributeName, k.KeyType.Value)));
        await table.InitializeMembershipTableAsync(true, default); // and again, when it exists
        Assert.True(await table.InsertRowAsync(Entry(Silo(1)), (await table.ReadAllAsync(default)).Version.Next(), default));
    }

    [Fact]
    public async Task Throttled_calls_are_retried_and_the_writes_succeed()
    {
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var client = ClientVia(proxy.Url);
        var table = TableVia(client);
        using var cancel = new CancellationTokenSource(WaitLimit);
        // DescribeTable is a control-plane call: DynamoDB throttles it as ThrottlingException, not as
        // ProvisionedThroughputExceeded (which the SDK does not model for it).
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 3, kind: FaultKind.Throttling);
        await table.InitializeMembershipTableAsync(true, cancel.Token);
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 3);
        Assert.True(await table.InsertRowAsync(Entry(Silo(1)), (await table.ReadAllAsync(cancel.Token)).Version.Next(), cancel.Token));
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 3);
        var snapshot = await table.ReadAllAsync(cancel.Token);
        Assert.True(await table.UpdateRowAsync(Entry(Silo(1), SiloStatus.Active), Assert.Single(snapshot.Members).Item2, snapshot.Version.Next(), cancel.Token));
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: 3);
        await table.UpdateIAmAliveAsync(With(Entry(Silo(1), SiloStatus.Active), iAmAlive: T0.AddSeconds(5)), cancel.Token);

        Assert.Equal(12, proxy.InjectedCounts.Values.Sum());
        var (entry, _) = Assert.Single((await Table.ReadAllAsync(default)).Members);
        Assert.Equal(SiloStatus.Active, entry.Status);
        Assert.Equal(T0.AddSeconds(5), entry.IAmAliveTime);
        Assert.Equal(2, (await Table.ReadAllAsync(default)).Version.Version);
    }

    [Fact]
    public async Task A_change_held_up_between_its_claim_and_its_row_write_cannot_land_after_a_later_change()
    {
        // Silos 1 and 2 each decide to declare the other dead, each from a read where it is itself Active.
        await InsertAsync(Entry(Silo(1), SiloStatus.Active), Entry(Silo(2), SiloStatus.Active));
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var slowClient = ClientVia(proxy.Url);
        proxy.Throttle("PutItem", firstN: int.MaxValue);
        var read1 = await Table.ReadAllAsync(default);
        var silo1Declares = TableVia(slowClient).UpdateRowAsync(
            Entry(Silo(2), SiloStatus.Dead), read1.Members.Single(e => e.Item1.SiloAddress.Equals(Silo(2))).Item2, read1.Version.Next(), default);
        await WaitUntilAsync(() => proxy.Injected("PutItem") > 0); // claimed the version, held up writing the row

        var read2 = await Table.ReadAllAsync(default);
        Assert.Equal(read1.Version.Version + 1, read2.Version.Version);
        Assert.All(read2.Members, e => Assert.Equal(SiloStatus.Active, e.Item1.Status)); // its change has not landed
        var silo2Declares = await Table.UpdateRowAsync(
            Entry(Silo(1), SiloStatus.Dead), read2.Members.Single(e => e.Item1.SiloAddress.Equals(Silo(1))).Item2, read2.Version.Next(), default);
        proxy.ClearFaults();

        // Both answered true would be the mutual kill the version row is there to prevent.
        Assert.True(silo2Declares);
        Assert.False(await silo1Declares.WaitAsync(WaitLimit));
        var final = await Table.ReadAllAsync(default);
        Assert.Equal(SiloStatus.Dead, final.Members.Single(e => e.Item1.SiloAddress.Equals(Silo(1))).Item1.Status);
        Assert.Equal(SiloStatus.Active, final.Members.Single(e => e.Item1.SiloAddress.Equals(Silo(2))).Item1.Status);
    }

    [Fact]
    public async Task Every_read_of_one_version_has_the_same_rows_even_while_its_change_is_held_up()
    {
        // Orleans takes a snapshot of a version it already holds for news only if heartbeats moved: two
        // different contents under one version number would leave a silo stale until the next change.
        await InsertAsync(Entry(Silo(1), SiloStatus.Joining));
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var slowClient = ClientVia(proxy.Url);
        proxy.Throttle("PutItem", firstN: int.MaxValue);
        var read1 = await Table.ReadAllAsync(default);
        var activating = TableVia(slowClient).UpdateRowAsync(Entry(Silo(1), SiloStatus.Active), Assert.Single(read1.Members).Item2, read1.Version.Next(), default);
        await WaitUntilAsync(() => proxy.Injected("PutItem") > 0);

        var during = await Table.ReadAllAsync(default); // settles the held-up change: it will never land
        proxy.ClearFaults();
        Assert.False(await activating.WaitAsync(WaitLimit));
        var after = await Table.ReadAllAsync(default);
        var row = await Table.ReadRowAsync(Silo(1), default);

        Assert.Equal(read1.Version.Version + 1, during.Version.Version);
        AssertSameSnapshot(during, after);
        Assert.Equal(during.Version, row.Version);
        Assert.Equal(SiloStatus.Joining, Assert.Single(after.Members).Item1.Status);
        // And the silo, re-reading, gets its change through.
        Assert.True(await Table.UpdateRowAsync(Entry(Silo(1), SiloStatus.Active), Assert.Single(after.Members).Item2, after.Version.Next(), default));
    }

    [Fact]
    public async Task A_writer_that_dies_after_claiming_the_version_leaves_only_a_version_bump()
    {
        await InsertAsync(Entry(Silo(1)));
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var slowClient = ClientVia(proxy.Url);
        proxy.Throttle("PutItem", firstN: int.MaxValue);
        using var die = new CancellationTokenSource();
        var before = await Table.ReadAllAsync(default);
        var dying = TableVia(slowClient).InsertRowAsync(Entry(Silo(3)), before.Version.Next(), die.Token);
        await WaitUntilAsync(() => proxy.Injected("PutItem") > 0);
        await die.CancelAsync();
        // Cancelled in its backoff it throws OperationCanceledException; cancelled while a throttled attempt
        // was in flight, DynamoDBRetry gives up with that attempt's throttling error. Either way it is dead.
        var died = await Record.ExceptionAsync(() => dying);
        Assert.True(died is OperationCanceledException or AmazonServiceException, $"The writer died of {died}");

        var after = await Table.ReadAllAsync(default);
        Assert.Equal(before.Version.Version + 1, after.Version.Version);
        Assert.Equal([Silo(1)], after.Members.Select(e => e.Item1.SiloAddress));
        // The read fenced the unfinished insert; the next writer inserts the same silo itself.
        Assert.True(await Table.InsertRowAsync(Entry(Silo(3), name: "second try"), after.Version.Next(), default));
        Assert.Equal("second try", (await RowAsync(Silo(3))).Entry.SiloName);
        Assert.Equal(2, (await Table.ReadAllAsync(default)).Members.Count);
    }

    [Fact]
    public async Task A_row_write_whose_answer_was_lost_and_retried_is_still_reported_as_won()
    {
        await InsertAsync(Entry(Silo(1)));
        var http = new LoseFirstAnswerFactory("PutItem");
        using var client = ClientVia(emulators.DynamoDbUrl, http);
        var snapshot = await Table.ReadAllAsync(default);

        Assert.True(await TableVia(client).UpdateRowAsync(Entry(Silo(1), SiloStatus.Active), Assert.Single(snapshot.Members).Item2, snapshot.Version.Next(), default));

        Assert.Equal(1, http.Lost);
        Assert.Equal(SiloStatus.Active, (await RowAsync(Silo(1))).Entry.Status);
    }

    [Fact]
    public async Task A_defunct_row_changed_between_the_cleanups_read_and_its_delete_is_kept()
    {
        await InsertAsync(Entry(Silo(1), SiloStatus.Dead), Entry(Silo(2), SiloStatus.Dead));
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var slowClient = ClientVia(proxy.Url);
        proxy.Throttle("DeleteItem", firstN: int.MaxValue);
        var cleanup = TableVia(slowClient).CleanupDefunctSiloEntriesCountAsync(T0.AddDays(1), default);
        await WaitUntilAsync(() => proxy.Injected("DeleteItem") > 0); // read both rows defunct, held up deleting

        // One row becomes Active (never defunct); the other is rewritten, still Dead and as old (a new ETag).
        await SetStatusAsync(Silo(1), SiloStatus.Active);
        await SetStatusAsync(Silo(2), SiloStatus.Dead, "rewritten");
        proxy.ClearFaults();

        Assert.Equal(0, await cleanup.WaitAsync(WaitLimit));
        var rows = (await Table.ReadAllAsync(default)).Members;
        Assert.Equal(SiloStatus.Active, rows.Single(e => e.Item1.SiloAddress.Equals(Silo(1))).Item1.Status);
        Assert.Equal("rewritten", rows.Single(e => e.Item1.SiloAddress.Equals(Silo(2))).Item1.SiloName);
        // Read afresh, the one still Dead goes.
        Assert.Equal(1, await ((DynamoDBMembershipTable)Table).CleanupDefunctSiloEntriesCountAsync(T0.AddDays(1), default));
    }

    [Fact]
    public async Task Concurrent_cleanups_delete_each_defunct_row_exactly_once()
    {
        await InsertAsync([Entry(Silo(10), SiloStatus.Active), .. Enumerable.Range(1, 6).Select(n => Entry(Silo(n), SiloStatus.Dead))]);

        var counts = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => ((DynamoDBMembershipTable)Table).CleanupDefunctSiloEntriesCountAsync(T0.AddDays(1), default))));

        Assert.Equal(6, counts.Sum());
    }

    [Fact]
    public async Task A_row_is_one_item_with_named_attributes_under_the_cluster_and_silo_keys()
    {
        var entry = Entry(Silo(1), SiloStatus.Active);
        entry.ProxyPort = 30000;
        await InsertAsync(entry);

        var item = (await _client.GetItemAsync(new GetItemRequest
        {
            TableName = SharedPrefix + "membership",
            Key = new() { ["cluster"] = new AttributeValue { S = ClusterId }, ["rowKey"] = new AttributeValue { S = "silo#" + Silo(1).ToParsableString() } },
        })).Item;

        Assert.Equal("Active", item["status"].S);
        Assert.Equal("30000", item["proxyPort"].N);
        Assert.Equal("1", item["etag"].N);
        Assert.Equal("1", item["tableVersion"].N);
        Assert.Equal(Silo(1).ToParsableString(), item["address"].S);
        Assert.Equal("2025-03-01T12:00:00.1234567Z", item["startTime"].S);
    }

    [Fact]
    public async Task A_table_throttled_without_end_fails_the_call_after_the_operation_timeout_instead_of_hanging()
    {
        await using var proxy = await AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        using var client = ClientVia(proxy.Url);
        var table = DynamoDBTestSupport.Table(client, ClusterId, SharedPrefix, operationTimeout: TimeSpan.FromSeconds(1));
        proxy.Throttle(AwsFaultProxy.AnyOperation, firstN: int.MaxValue);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var failed = await Record.ExceptionAsync(() => table.ReadAllAsync(default));

        // Given up in its backoff (cancelled) or on a throttled attempt in flight (DynamoDBRetry rethrows it).
        Assert.True(failed is OperationCanceledException or AmazonServiceException, $"Failed with {failed}");
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_row_of_another_membership_layout_under_the_same_cluster_id_is_refused_by_name()
    {
        // As the home-made runtime writes its rows: same table name and keys, other attributes.
        await _client.PutItemAsync(new PutItemRequest
        {
            TableName = SharedPrefix + "membership",
            Item = new()
            {
                ["cluster"] = new AttributeValue { S = ClusterId },
                ["rowKey"] = new AttributeValue { S = "silo#10.0.0.1:11111@5" },
                ["address"] = new AttributeValue { S = "10.0.0.1:11111@5" },
                ["status"] = new AttributeValue { S = "Active" },
                ["siloName"] = new AttributeValue { S = "old" },
                ["startTime"] = new AttributeValue { S = "2025-03-01T14:00:00.0000000+02:00" },
                ["iAmAliveTime"] = new AttributeValue { S = "2025-03-01T14:00:00.0000000+02:00" },
                ["etag"] = new AttributeValue { N = "1" },
                ["tableVersion"] = new AttributeValue { N = "1" },
            },
        });

        var refused = await Assert.ThrowsAsync<InvalidDataException>(() => Table.ReadAllAsync(default));

        Assert.Contains("'silo#10.0.0.1:11111@5'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("not an Orleans membership row", refused.Message, StringComparison.Ordinal);
    }
}
