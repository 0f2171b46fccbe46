using System.Text;
using System.Text.Json.Nodes;
using Analytics.Aws.Tests;
using Analytics.Aws.Kinesis;
using static Analytics.EndToEnd.Tests.SiloApi;

namespace Analytics.EndToEnd.Tests;

/// <summary>
/// The production path over real processes: producers put events into Kinesis (kinesis-mock), a
/// silo in AWS mode reads the shards through DynamoDB leases (dynalite) and keeps its state there,
/// and every number read back over HTTP is exact: through a reshard, and through SIGKILLs.
/// </summary>
[Collection(EmulatorCollection.Name)]
public sealed class AwsSiloTests(EmulatorHost emulators) : IDisposable
{
    internal static readonly string[] Metrics = ["aws.temp", "aws.hum", "aws.load", "aws.volt"];
    private readonly KinesisClient _kinesis = emulators.CreateKinesisClient();

    public void Dispose() => _kinesis.Dispose();

    [Fact]
    public async Task A_hundred_thousand_events_from_a_thousand_sources_are_exact_with_producer_retries_and_a_poison_record()
    {
        var aws = await AwsSilo.CreateAsync(emulators, _kinesis, shards: 4);
        var events = KinesisProducer.Generate(100_000, 1000, Metrics, seed: 11, "a");
        await using var silo = await aws.StartAsync();

        await KinesisProducer.PutAsync(_kinesis, aws.Stream, events);
        // A producer that timed out re-sends a batch it had in fact written: same ids, counted once.
        await KinesisProducer.PutAsync(_kinesis, aws.Stream, events.Take(5000).ToList());
        await _kinesis.PutRecordsAsync(aws.Stream, [new PutRecordsEntry(Encoding.UTF8.GetBytes("{\"source\": \"dev-0001\", oops"), "dev-0001")]);

        await AssertExactAsync(silo, events);

        // The poison record is kept with its shard, sequence number and reason; the shard went on.
        var letters = (await GetAsync(silo, "/api/dead-letters"))!;
        Assert.Equal(1, (long)letters["total"]!);
        var letter = letters["items"]![0]!;
        Assert.StartsWith("events:shardId-", (string)letter["queue"]!);
        Assert.False(string.IsNullOrEmpty((string)letter["sequence"]!));
        Assert.Contains("oops", (string)letter["data"]!);
        Assert.False(string.IsNullOrEmpty((string)letter["reason"]!));

        // Operators list the same store with the tool.
        var (exit, listed) = await CliProcess.RunAsync("dead-letters", "--url", silo.Http.BaseAddress!.ToString());
        Assert.True(exit == 0, listed);
        Assert.Contains("events:shardId-", listed);
        Assert.Contains("1 of 1 shown", listed);
    }

    [Fact]
    public async Task A_split_and_a_merge_halfway_through_lose_nothing_and_count_nothing_twice()
    {
        var aws = await AwsSilo.CreateAsync(emulators, _kinesis, shards: 4);
        var events = KinesisProducer.Generate(100_000, 1000, Metrics, seed: 12, "r");
        await using var silo = await aws.StartAsync();

        await KinesisProducer.PutAsync(_kinesis, aws.Stream, events.Take(50_000).ToList());
        var shards = (await _kinesis.ListAllShardsAsync(aws.Stream)).OrderBy(s => s.HashKeyRange.Start).ToList();
        await _kinesis.SplitShardAsync(aws.Stream, shards[0].ShardId, shards[0].HashKeyRange.Midpoint());
        await _kinesis.WaitForStreamActiveAsync(aws.Stream, TimeSpan.FromSeconds(30));
        await KinesisProducer.PutAsync(_kinesis, aws.Stream, events.Skip(50_000).Take(20_000).ToList());
        await _kinesis.MergeShardsAsync(aws.Stream, shards[2].ShardId, shards[3].ShardId);
        await _kinesis.WaitForStreamActiveAsync(aws.Stream, TimeSpan.FromSeconds(30));
        await KinesisProducer.PutAsync(_kinesis, aws.Stream, events.Skip(70_000).ToList());

        await AssertExactAsync(silo, events);
        var cluster = (await GetAsync(silo, "/api/cluster"))!;
        Assert.Contains("shardId-", cluster.ToJsonString());
    }

    [Fact]
    public async Task Two_SIGKILLs_during_ingest_lose_nothing_and_count_nothing_twice()
    {
        var aws = await AwsSilo.CreateAsync(emulators, _kinesis, shards: 4);
        var events = KinesisProducer.Generate(100_000, 1000, Metrics, seed: 13, "k");
        var silo = await aws.StartAsync();
        try
        {
            for (var part = 0; part < 10; part++)
            {
                await KinesisProducer.PutAsync(_kinesis, aws.Stream, events.Skip(part * 10_000).Take(10_000).ToList());
                if (part is 3 or 7)
                {
                    // Wait until the silo has counted some of it, so that the kill lands mid-delivery with unflushed effects.
                    await WaitForTotalAsync(silo, (part - 1) * 10_000);
                    await silo.KillAsync();
                    await silo.DisposeAsync();
                    silo = await aws.StartAsync();
                }
            }

            await AssertExactAsync(silo, events);
        }
        finally
        {
            await silo.DisposeAsync();
        }
    }

    [Fact]
    public async Task Throttled_Kinesis_and_DynamoDB_calls_are_retried_and_nothing_is_lost()
    {
        // The silo talks to both emulators only through fault proxies, which throttle a share of its calls.
        await using var kinesisProxy = await Testing.AwsFaultProxy.AwsFaultProxy.StartAsync(emulators.KinesisUrl);
        await using var dynamoProxy = await Testing.AwsFaultProxy.AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        var aws = await AwsSilo.CreateAsync(emulators, _kinesis, shards: 2, kinesisProxy.Url, dynamoProxy.Url);
        var events = KinesisProducer.Generate(20_000, 200, Metrics, seed: 14, "t");
        await using var silo = await aws.StartAsync();

        kinesisProxy.Throttle("GetRecords", probability: 0.3);
        kinesisProxy.Throttle("GetShardIterator", everyNth: 2);
        kinesisProxy.FailPutRecordsEntries(0.3);
        dynamoProxy.Throttle(Testing.AwsFaultProxy.AwsFaultProxy.AnyOperation, probability: 0.2, kind: Testing.AwsFaultProxy.FaultKind.Throttling);

        // Half through the HTTP ingest (PutRecords with partial failures), half straight into Kinesis.
        foreach (var batch in events.Take(10_000).Chunk(1000))
        {
            var answer = await PostAsync(silo, batch.Select(Json));
            Assert.Equal(batch.Length, (long)answer["accepted"]!);
        }

        await KinesisProducer.PutAsync(_kinesis, aws.Stream, events.Skip(10_000).ToList());
        await AssertExactAsync(silo, events);

        Assert.True(kinesisProxy.FailedPutRecordsEntries > 0, "no PutRecords entry was failed");
        Assert.True(kinesisProxy.Injected("GetRecords") > 0, "no GetRecords was throttled");
        Assert.True(dynamoProxy.InjectedCounts.Values.Sum() > 0, "no DynamoDB call was throttled");
    }

    [Fact]
    public async Task A_silo_whose_DynamoDB_went_away_still_ends_after_SIGTERM_and_a_restart_loses_nothing()
    {
        var dynamoProxy = await Testing.AwsFaultProxy.AwsFaultProxy.StartAsync(emulators.DynamoDbUrl);
        var aws = await AwsSilo.CreateAsync(emulators, _kinesis, shards: 1, dynamoDbUrl: dynamoProxy.Url);
        var events = KinesisProducer.Generate(2000, 20, Metrics, seed: 15, "w");
        await using var silo = await aws.StartAsync("--Silo:ShutdownTimeout=00:00:02");
        await KinesisProducer.PutAsync(_kinesis, aws.Stream, events.Take(1000).ToList());
        await WaitForTotalAsync(silo, 1000);

        // DynamoDB becomes unreachable; new events make the grains dirty, so the graceful stop
        // has writes it can never finish. The watchdog ends the process instead of hanging.
        await dynamoProxy.DisposeAsync();
        await KinesisProducer.PutAsync(_kinesis, aws.Stream, events.Skip(1000).ToList());
        await Task.Delay(TimeSpan.FromSeconds(3));
        var exitCode = await silo.TerminateAsync(TimeSpan.FromSeconds(60));
        Assert.True(exitCode == 137, $"exit code {exitCode}\n{silo.Output}");
        Assert.Contains("did not stop within", silo.Output);

        // The next silo, with DynamoDB back, replays what was never checkpointed: exact again.
        await using var restarted = await new AwsSilo(emulators, aws.Stream, aws.TablePrefix).StartAsync();
        await AssertExactAsync(restarted, events);
    }

    internal static async Task WaitForTotalAsync(SiloProcess silo, long atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            long total = 0;
            foreach (var metric in Metrics)
            {
                total += (long?)(await GetAsync(silo, $"/api/metrics/{metric}/stats?window=1h"))?["count"] ?? 0;
            }

            if (total >= atLeast)
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new Xunit.Sdk.XunitException($"The silo never counted {atLeast} events.\n{silo.Output}");
    }

    /// <summary>Every metric's numbers against the model, and every source's count.</summary>
    internal static async Task AssertExactAsync(SiloProcess silo, IReadOnlyList<Sent> events)
    {
        foreach (var metric in Metrics)
        {
            var mine = events.Where(e => e.Metric == metric).ToList();
            var stats = await StatsWhenCountReachesAsync(silo, metric, mine.Count, TimeSpan.FromSeconds(180));
            AssertStats(stats, mine, late: 0, distinct: mine.Select(e => e.Source).Distinct().Count());
        }

        foreach (var source in events.GroupBy(e => e.Source).Where((_, i) => i % 10 == 0))
        {
            var summary = (await GetAsync(silo, $"/api/sources/{source.Key}?window=1h"))!;
            foreach (var metric in source.GroupBy(e => e.Metric))
            {
                var reported = summary["metrics"]![metric.Key]!;
                Assert.Equal(metric.Count(), (long)reported["count"]!);
                Assert.Equal(metric.Min(e => e.Value), (double)reported["min"]!);
                Assert.Equal(metric.Max(e => e.Value), (double)reported["max"]!);
            }
        }
    }
}
