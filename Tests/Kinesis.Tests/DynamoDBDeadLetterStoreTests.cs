using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;

namespace Analytics.Kinesis.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class DynamoDBDeadLetterStoreTests(EmulatorHost emulators) : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 8, 30, 0, TimeSpan.Zero);

    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();
    private readonly DynamoDBOptions _options = new() { TablePrefix = EmulatorHost.UniqueName("dl") + "-" };

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task Letters_are_listed_newest_first_up_to_the_limit_and_counted()
    {
        var store = new DynamoDBDeadLetterStore(_client, _options, "kinesis");
        // Added out of time order: the list is by the letters' time, not by when they were added.
        foreach (var i in new[] { 3, 0, 4, 1, 2 })
        {
            await store.AddAsync(Letter(i), default);
        }

        var newest = await store.ListAsync(3, default);
        var all = await store.ListAsync(100, default);

        Assert.Equal(["seq-4", "seq-3", "seq-2"], newest.Select(l => l.Sequence));
        Assert.Equal(["seq-4", "seq-3", "seq-2", "seq-1", "seq-0"], all.Select(l => l.Sequence));
        Assert.Equal(5, await store.CountAsync(default));
        Assert.Empty(await store.ListAsync(0, default));
    }

    [Fact]
    public async Task A_letter_round_trips_every_field()
    {
        var store = new DynamoDBDeadLetterStore(_client, _options, "kinesis");
        var data = new byte[10_000];
        new Random(7).NextBytes(data);
        data[0] = 0;
        data[^1] = 255;
        var letter = new DeadLetter("kinesis:shardId-000000000001", "4959033827149.2", "FormatException: not json ünïcødé 🙂", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).AddTicks(1234567), data);

        await store.AddAsync(letter, default);

        var stored = Assert.Single(await store.ListAsync(10, default));
        Assert.Equal((letter.Queue, letter.Sequence, letter.Reason), (stored.Queue, stored.Sequence, stored.Reason));
        Assert.Equal((letter.Time, letter.Time.Offset), (stored.Time, stored.Time.Offset));
        Assert.Equal(data, stored.Data);
    }

    [Fact]
    public async Task Empty_data_and_reason_are_stored()
    {
        var store = new DynamoDBDeadLetterStore(_client, _options, "kinesis");

        await store.AddAsync(new DeadLetter("q", "1", "", Start, []), default);

        var stored = Assert.Single(await store.ListAsync(10, default));
        Assert.Equal("", stored.Reason);
        Assert.Empty(stored.Data);
    }

    [Fact]
    public async Task A_letter_too_large_for_an_item_is_truncated_but_stored()
    {
        var store = new DynamoDBDeadLetterStore(_client, _options, "kinesis");
        var data = new byte[1024 * 1024];
        new Random(11).NextBytes(data);
        var reason = new string('x', 100_000);

        await store.AddAsync(new DeadLetter("q", "1", reason, Start, data), default);

        var stored = Assert.Single(await store.ListAsync(10, default));
        Assert.Equal(DynamoDBDeadLetterStore.MaxDataBytes, stored.Data.Length);
        Assert.Equal(data.AsSpan(0, DynamoDBDeadLetterStore.MaxDataBytes).ToArray(), stored.Data);
        Assert.Equal(reason[..DynamoDBDeadLetterStore.MaxReasonChars], stored.Reason);

        var item = Assert.Single(await RawItemsAsync(store));
        Assert.Equal((true, data.Length), DynamoDBDeadLetterStore.ReadTruncation(item));
    }

    [Fact]
    public async Task A_letter_that_fits_is_not_marked_truncated()
    {
        var store = new DynamoDBDeadLetterStore(_client, _options, "kinesis");

        await store.AddAsync(Letter(0), default);

        Assert.Equal((false, Letter(0).Data.Length), DynamoDBDeadLetterStore.ReadTruncation(Assert.Single(await RawItemsAsync(store))));
    }

    [Fact]
    public async Task Listing_reads_past_the_one_megabyte_page()
    {
        var store = new DynamoDBDeadLetterStore(_client, _options, "kinesis");
        for (var i = 0; i < 6; i++)
        {
            await store.AddAsync(Letter(i) with { Data = new byte[300 * 1024] }, default);
        }

        Assert.Equal(5, (await store.ListAsync(5, default)).Count);
        Assert.Equal(6, (await store.ListAsync(50, default)).Count);
        Assert.Equal(6, await store.CountAsync(default));
    }

    [Fact]
    public async Task Two_silos_stores_see_each_others_letters_and_other_stores_do_not()
    {
        var silo1 = new DynamoDBDeadLetterStore(_client, _options, "kinesis");
        using var otherClient = emulators.CreateDynamoDbClient();
        var silo2 = new DynamoDBDeadLetterStore(otherClient, _options, "kinesis");
        var otherProvider = new DynamoDBDeadLetterStore(_client, _options, "local");

        await Task.WhenAll(silo1.AddAsync(Letter(1), default), silo2.AddAsync(Letter(2), default));
        await otherProvider.AddAsync(Letter(3), default);

        Assert.Equal(["seq-2", "seq-1"], (await silo1.ListAsync(10, default)).Select(l => l.Sequence));
        Assert.Equal(["seq-2", "seq-1"], (await silo2.ListAsync(10, default)).Select(l => l.Sequence));
        Assert.Equal(2, await silo1.CountAsync(default));
        Assert.Equal(2, await silo2.CountAsync(default));
        Assert.Equal(1, await otherProvider.CountAsync(default));
    }

    [Fact]
    public async Task Letters_of_one_tick_are_kept_apart_and_a_repeated_add_is_one_letter()
    {
        var store = new DynamoDBDeadLetterStore(_client, _options, "kinesis");

        await store.AddAsync(new DeadLetter("q1", "1", "r", Start, [1]), default);
        await store.AddAsync(new DeadLetter("q2", "1", "r", Start, [2]), default);
        await store.AddAsync(new DeadLetter("q1", "2", "r", Start, [3]), default);
        await store.AddAsync(new DeadLetter("q1", "2", "r", Start, [3]), default); // a retried add

        Assert.Equal(3, await store.CountAsync(default));
    }

    [Fact]
    public async Task The_table_is_created_with_the_prefix_at_first_use_once_for_concurrent_callers()
    {
        var store = new DynamoDBDeadLetterStore(_client, _options, "kinesis");
        Assert.Equal(_options.TablePrefix + "dead-letters", store.TableName);

        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => Task.Run(() => store.AddAsync(Letter(i), default))));

        var table = await _client.DescribeTableAsync(_options.TablePrefix + "dead-letters");
        Assert.Equal(TableStatus.ACTIVE, table.Table.TableStatus);
        Assert.Equal(10, await store.CountAsync(default));
    }

    [Fact]
    public async Task A_missing_table_is_an_error_when_tables_are_not_created()
    {
        var options = new DynamoDBOptions { TablePrefix = _options.TablePrefix, CreateTables = false };
        var store = new DynamoDBDeadLetterStore(_client, options, "kinesis");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.AddAsync(Letter(0), default));

        Assert.Contains(store.TableName, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Range_keys_sort_by_time_and_stay_within_the_key_limit()
    {
        var early = DynamoDBDeadLetterStore.RangeKey(Start, "q", "9");
        var later = DynamoDBDeadLetterStore.RangeKey(Start.AddTicks(1).ToOffset(TimeSpan.FromHours(-5)), "q", "1");
        var huge = DynamoDBDeadLetterStore.RangeKey(Start, new string('q', 5000), "1");

        Assert.True(string.CompareOrdinal(early, later) < 0);
        Assert.True(huge.Length <= 1024);
        Assert.StartsWith("2026-11-22T08:30:00.0000000Z/", huge, StringComparison.Ordinal);
    }

    private static DeadLetter Letter(int i) =>
        new("kinesis:shard-0", $"seq-{i}", $"reason {i}", Start.AddSeconds(i), [(byte)i, 1, 2, 3]);

    private async Task<List<Dictionary<string, AttributeValue>>> RawItemsAsync(DynamoDBDeadLetterStore store)
    {
        var response = await _client.QueryAsync(new QueryRequest
        {
            TableName = store.TableName,
            KeyConditionExpression = "#s = :s",
            ExpressionAttributeNames = new() { ["#s"] = "store" },
            ExpressionAttributeValues = new() { [":s"] = new AttributeValue { S = store.StoreName } },
            ConsistentRead = true,
        });
        return response.Items ?? [];
    }
}
