using System.Text.Json;
using Analytics.Runtime;
using Analytics.Aws.Kinesis;
using Analytics.Runtime.Aws.Kinesis;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.Leases;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;
using static Analytics.Aws.Tests.KinesisTestStreams;

namespace Analytics.Aws.Tests;

/// <summary>Resharding while two silos read: a split and a merge lose nothing, count nothing twice, and keep every key's order.</summary>
[Collection(EmulatorCollection.Name)]
public sealed class KinesisReshardOrderTests(EmulatorHost emulators) : IDisposable
{
    private const int Keys = 40;
    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task Children_are_read_only_after_their_parents_so_each_key_sees_its_records_in_order()
    {
        var stream = await CreateAsync(_client, "reshard-order", shards: 2);
        var leases = new MemoryQueueLeaseTable();
        await using var cluster = await StartClusterAsync(
            _client,
            new KinesisStreamOptions { StreamName = stream, Namespace = KinesisOrderGrain.Namespace, MinPollInterval = TimeSpan.FromMilliseconds(50) },
            silos: 2,
            leases,
            new MemoryDeadLetterStore(),
            o => o.QueueRefreshInterval = TimeSpan.FromMilliseconds(300),
            o =>
            {
                o.LeaseDuration = TimeSpan.FromSeconds(2);
                o.RenewInterval = TimeSpan.FromMilliseconds(200);
            });

        var provider = cluster.Silos[0].Services.GetStreamProvider("kinesis");
        async Task AppendAsync(int from, int count)
        {
            // Records are written in order, one key's values increasing; a reader that kept order sees them increasing too.
            var records = Enumerable.Range(from, count)
                .Select(n => (new StreamId(KinesisOrderGrain.Namespace, $"key-{n % Keys}"), (ReadOnlyMemory<byte>)JsonSerializer.SerializeToUtf8Bytes(n)))
                .ToList();
            await provider.AppendAsync(records);
        }

        await AppendAsync(0, 1000);
        var first = (await _client.ListAllShardsAsync(stream))[0];
        await _client.SplitShardAsync(stream, first.ShardId, first.HashKeyRange.Midpoint());
        await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);
        await AppendAsync(1000, 1000);
        var children = (await _client.ListAllShardsAsync(stream)).Where(s => s.ParentShardId == first.ShardId).OrderBy(s => s.HashKeyRange.Start).ToList();
        await _client.MergeShardsAsync(stream, children[0].ShardId, children[1].ShardId);
        await _client.WaitForStreamActiveAsync(stream, ActiveTimeout);
        await AppendAsync(2000, 1000);

        async Task<KinesisOrderReport[]> ReportsAsync() =>
            await Task.WhenAll(Enumerable.Range(0, Keys).Select(k => cluster.GrainFactory.GetGrain<IKinesisOrderGrain>($"key-{k}").Report()));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((await ReportsAsync()).Sum(r => r.Count) < 3000 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        // The three closed shards are read to their ends and say so in their leases.
        deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await leases.ListAsync("kinesis", CancellationToken.None)).Count(l => l.IsEnded) < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var reports = await ReportsAsync();
        Assert.Equal(3000, reports.Sum(r => r.Count));
        Assert.All(reports, r => Assert.Equal(3000 / Keys, r.Count));
        Assert.All(reports, r => Assert.Equal(0, r.OutOfOrder));
        var final = await leases.ListAsync("kinesis", CancellationToken.None);
        Assert.Equal(
            new[] { first.ShardId, children[0].ShardId, children[1].ShardId }.Order(),
            final.Where(l => l.IsEnded).Select(l => l.Queue.Name).Order());
        Assert.Equal(2, final.Count(l => !l.IsEnded && l.Owner is not null));
    }
}

public sealed record KinesisOrderReport(int Count, int OutOfOrder);

public interface IKinesisOrderGrain : IStreamConsumer
{
    Task<KinesisOrderReport> Report();
}

public sealed class KinesisOrderState
{
    public StreamWatermarks Watermarks { get; set; } = new();

    public int Count { get; set; }

    public int Last { get; set; } = -1;

    public int OutOfOrder { get; set; }
}

/// <summary>Counts its key's integers and how many arrived after a larger one.</summary>
[ImplicitStreamSubscription(Namespace)]
public sealed class KinesisOrderGrain([PersistentState("order", "store")] IPersistentState<KinesisOrderState> state) : StreamConsumerGrain, IKinesisOrderGrain
{
    public const string Namespace = "kinesis-order";

    protected override StreamWatermarks Watermarks => state.State.Watermarks;

    public Task<DeliveryOutcome> OnNextAsync(StreamDelivery delivery) => Task.FromResult(ApplyOnce(delivery, d =>
    {
        foreach (var item in d.Items)
        {
            var value = JsonSerializer.Deserialize<int>(((ReadOnlyMemory<byte>)item).Span);
            var s = state.State;
            s.OutOfOrder += value < s.Last ? 1 : 0;
            s.Last = Math.Max(s.Last, value);
            s.Count++;
        }
    }));

    protected override Task WriteAsync() => state.WriteStateAsync();

    public Task<KinesisOrderReport> Report() => Task.FromResult(new KinesisOrderReport(state.State.Count, state.State.OutOfOrder));
}
