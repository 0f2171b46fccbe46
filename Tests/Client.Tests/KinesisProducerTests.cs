using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Client.Kinesis;
using Analytics.Aws.Kinesis;

namespace Analytics.Client.Tests;

public sealed class KinesisProducerTests
{
    private static ProducerRecord Record(string key, string data, int tag) => new(key, Encoding.UTF8.GetBytes(data), 1, tag);

    private static KinesisEventProducer Producer(FakeKinesis fake, bool aggregate = false, int concurrency = 1, int maxRecords = 500) =>
        new(fake.CreateClient(), new KinesisProducerOptions
        {
            StreamName = "s",
            Aggregate = aggregate,
            Concurrency = concurrency,
            MaxRecordsPerCall = maxRecords,
            BaseRetryDelay = TimeSpan.FromMilliseconds(1),
            MaxRetryDelay = TimeSpan.FromMilliseconds(2),
            PutRetryTimeout = TimeSpan.FromSeconds(10),
        }, ownsClient: true);

    /// <summary>The n-th record of a key is "key/n", so order and completeness can be read back.</summary>
    private static List<ProducerRecord> Numbered(int count, int keys) =>
        [.. Enumerable.Range(0, count).Select(i => Record($"k{i % keys}", $"k{i % keys}/{i / keys}", i))];

    private static void AssertInOrderPerKey(IEnumerable<(string Key, string Data)> received, int expected)
    {
        var list = received.ToList();
        Assert.Equal(expected, list.Count);
        Assert.Equal(expected, list.Select(r => r.Data).Distinct().Count());
        foreach (var byKey in list.GroupBy(r => r.Key))
        {
            Assert.All(byKey, r => Assert.StartsWith(r.Key + "/", r.Data, StringComparison.Ordinal));
            Assert.Equal(Enumerable.Range(0, byKey.Count()), byKey.Select(r => int.Parse(r.Data.Split('/')[1], CultureInfo.InvariantCulture)));
        }
    }

    [Fact]
    public async Task Calls_hold_at_most_500_records()
    {
        var fake = new FakeKinesis();
        await using var producer = Producer(fake);

        ProducerResult result = await producer.PutAsync(Numbered(1200, 7));

        Assert.Equal([500, 500, 200], fake.Calls.Select(c => c.Count));
        Assert.Equal(1200, result.AcceptedEvents);
        Assert.Equal(new KinesisProducerStats(1200, 1200, 3, 0, 0, 0), producer.Stats);
    }

    [Fact]
    public async Task Calls_hold_at_most_5_MiB_with_partition_keys()
    {
        var fake = new FakeKinesis();
        await using var producer = Producer(fake);
        string pad = new('x', 200 * 1024);

        await producer.PutAsync([.. Enumerable.Range(0, 60).Select(i => Record("key", $"{i:D3}{pad}", i))]);

        Assert.True(fake.Calls.Count >= 3);
        Assert.All(fake.Calls, c => Assert.True(c.Sum(e => e.Data.Length + e.PartitionKey.Length) <= KinesisLimits.MaxPutRecordsBytes));
        Assert.Equal(25, fake.Calls[0].Count); // 25 × 200 KiB fits in 5 MiB, 26 does not
        Assert.Equal(60, fake.Accepted.Count);
    }

    [Fact]
    public async Task A_partial_failure_re_sends_only_the_failed_entries_before_the_next_call()
    {
        // Call 0 throttles entries 3 and 7; call 1 (the retry) fails entry 0 once more.
        var fake = new FakeKinesis
        {
            FailEntry = (call, i, _) => (call, i) is (0, 3) or (0, 7) ? "ProvisionedThroughputExceededException"
                : (call, i) is (1, 0) ? "InternalFailure"
                : null,
        };
        await using var producer = Producer(fake, maxRecords: 10);

        ProducerResult result = await producer.PutAsync(Numbered(20, 20));

        IReadOnlyList<IReadOnlyList<FakePut>> calls = fake.Calls;
        Assert.Equal(4, calls.Count);
        Assert.Equal(["k3/0", "k7/0"], calls[1].Select(e => e.Text));
        Assert.Equal(["k3/0"], calls[2].Select(e => e.Text));
        Assert.Equal(Enumerable.Range(10, 10).Select(i => $"k{i}/0"), calls[3].Select(e => e.Text)); // the next call only after
        Assert.Equal(20, result.AcceptedEvents);
        Assert.Empty(result.Rejections);
        Assert.Equal(new KinesisProducerStats(20, 20, 4, 3, 2, 0), producer.Stats);
    }

    [Fact]
    public async Task A_record_refused_for_good_is_rejected_and_not_sent_again()
    {
        var fake = new FakeKinesis { FailEntry = (call, i, _) => (call, i) == (0, 1) ? "ValidationException" : null };
        await using var producer = Producer(fake);

        ProducerResult result = await producer.PutAsync(Numbered(3, 3));

        Assert.Single(fake.Calls);
        Assert.Equal(2, result.AcceptedEvents);
        Assert.Equal(1, result.RejectedEvents);
        ProducerRejection rejection = Assert.Single(result.Rejections);
        Assert.Equal(1, rejection.Tag);
        Assert.Contains("ValidationException", rejection.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_key_keeps_its_order_across_calls_retries_and_concurrent_lanes()
    {
        // Throttle one entry in every third call: retries interleave with the other lanes' calls.
        var fake = new FakeKinesis { FailEntry = (call, i, _) => call % 3 == 0 && i == 0 ? "ProvisionedThroughputExceededException" : null };
        await using var producer = Producer(fake, concurrency: 4, maxRecords: 7);

        // Each key appears once per call (keys ≥ records per call), so a retry cannot reorder within a call either.
        foreach (List<ProducerRecord> handOver in Numbered(3000, 40).Chunk(600).Select(c => c.ToList()))
        {
            await producer.PutAsync(handOver);
        }

        AssertInOrderPerKey(fake.Accepted.Select(e => (e.PartitionKey, e.Text)), 3000);
        Assert.True(producer.Stats.RetriedEntries > 0);
    }

    [Fact]
    public async Task Kpl_aggregates_only_records_of_the_same_key_in_order()
    {
        var fake = new FakeKinesis();
        await using var producer = Producer(fake, aggregate: true, concurrency: 2);

        await producer.PutAsync(Numbered(900, 9));

        List<FakePut> records = [.. fake.Calls.SelectMany(c => c)];
        Assert.Equal(9, records.Count); // one aggregated record per source
        var users = new List<(string, string)>();
        foreach (FakePut record in records)
        {
            KplDeaggregation content = KplAggregation.Deaggregate(record.Data, record.PartitionKey);
            Assert.Equal(KplRecordKind.Aggregated, content.Kind);
            Assert.All(content.Records, u => Assert.Equal(record.PartitionKey, u.PartitionKey));
            users.AddRange(content.Records.Select(u => (u.PartitionKey, Encoding.UTF8.GetString(u.Data.Span))));
        }

        AssertInOrderPerKey(users, 900);
        Assert.Equal(new KinesisProducerStats(900, 9, producer.Stats.Batches, 0, 0, 0), producer.Stats);
    }

    [Fact]
    public async Task Kpl_aggregates_stay_within_1_MiB()
    {
        var fake = new FakeKinesis();
        await using var producer = Producer(fake, aggregate: true);
        string pad = new('x', 300 * 1024);

        await producer.PutAsync([.. Enumerable.Range(0, 10).Select(i => Record("dev-1", $"dev-1/{i}/{pad}", i))]);

        List<FakePut> records = [.. fake.Calls.SelectMany(c => c)];
        Assert.Equal([3, 3, 3, 1], records.Select(r => KplAggregation.Deaggregate(r.Data, r.PartitionKey).Records.Count));
        Assert.All(records, r => Assert.True(r.Data.Length <= KinesisLimits.MaxRecordBytes, $"{r.Data.Length} bytes"));
        Assert.Equal(10, producer.Stats.Events);
    }

    [Fact]
    public async Task Simulated_events_are_one_contract_object_per_record_keyed_by_source()
    {
        var fake = new FakeKinesis();
        await using var producer = Producer(fake);

        IngestResult result = await producer.SendAsync(
            [new Events.AnalyticsEvent("dev-1", "temperature", 21.5, 1_795_000_000_000, "dev-1-000001")], CancellationToken.None);

        Assert.Equal(1, result.Accepted);
        FakePut put = Assert.Single(fake.Accepted);
        Assert.Equal("dev-1", put.PartitionKey);
        using var json = JsonDocument.Parse(put.Data);
        Assert.Equal("dev-1-000001", json.RootElement.GetProperty("id").GetString());
        Assert.Equal(21.5, json.RootElement.GetProperty("value").GetDouble());
    }

    [Fact]
    public async Task A_missing_stream_is_one_clear_error()
    {
        await using var producer = Producer(new FakeKinesis { StreamMissing = true });

        var error = await Assert.ThrowsAsync<KinesisProducerException>(() => producer.CheckStreamAsync());

        Assert.Contains("Kinesis stream 's' does not exist", error.Message, StringComparison.Ordinal);
    }
}
