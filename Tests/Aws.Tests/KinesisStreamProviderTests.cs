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

/// <summary>The Kinesis adapter under the runtime: a silo's pulling agents read the shards and deliver to implicit subscribers.</summary>
[Collection(EmulatorCollection.Name)]
public sealed class KinesisStreamProviderTests(EmulatorHost emulators) : IDisposable
{
    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task A_silo_delivers_every_appended_record_to_its_implicit_subscriber_exactly_once()
    {
        var stream = await CreateAsync(_client, "provider", shards: 3);
        var deadLetters = new MemoryDeadLetterStore();
        await using var cluster = await StartClusterAsync(
            _client,
            new KinesisStreamOptions { StreamName = stream, Namespace = KinesisTallyGrain.Namespace },
            silos: 1,
            new MemoryQueueLeaseTable(),
            deadLetters);

        const int keys = 20;
        var provider = cluster.Silos[0].Services.GetStreamProvider("kinesis");
        var records = Enumerable.Range(0, 2000)
            .Select(n => (new StreamId(KinesisTallyGrain.Namespace, $"key-{n % keys}"), (ReadOnlyMemory<byte>)JsonSerializer.SerializeToUtf8Bytes($"v{n % 4}")))
            .ToList();
        await provider.AppendAsync(records);

        async Task<Dictionary<string, int>[]> CountsAsync() =>
            await Task.WhenAll(Enumerable.Range(0, keys).Select(k => cluster.GrainFactory.GetGrain<IKinesisTallyGrain>($"key-{k}").Counts()));

        await Eventually(async () => (await CountsAsync()).Sum(c => c.Values.Sum()) >= 2000, "every record reaches its grain");

        // Every agent has caught up with its shard: nothing more is coming, so the counts are final.
        await Eventually(
            () => Task.FromResult(cluster.Silos[0].Services.GetPullingAgents().Count() == 3
                && cluster.Silos[0].Services.GetPullingAgents().All(a => a.Statistics.Lag == TimeSpan.Zero)),
            "the agents read every shard to its tip");
        var counts = await CountsAsync();
        Assert.Equal(2000, counts.Sum(c => c.Values.Sum()));
        for (var k = 0; k < keys; k++)
        {
            // key-k receives n = k, k + 20, ...: n % 4 is k % 4 for every one of them.
            Assert.Equal(new Dictionary<string, int> { [$"v{k % 4}"] = 100 }, counts[k]);
        }

        Assert.Equal(0, await deadLetters.CountAsync(CancellationToken.None));
        Assert.All(cluster.Silos[0].Services.GetPullingAgents(), a => Assert.Equal(0, a.Statistics.PoisonRecords));

        // The same figures reach a metrics collector: each shard's iterator age and records read.
        var metrics = CollectStreamMetrics(cluster.Silos[0].Services.GetRequiredService<StreamMetrics>());
        var shards = cluster.Silos[0].Services.GetPullingAgents().Select(a => a.Queue.ToString()).Order().ToList();
        Assert.Equal(shards, metrics.Where(m => m.Name == "analytics.streams.iterator_age").Select(m => m.Queue).Order());
        Assert.All(metrics.Where(m => m.Name == "analytics.streams.iterator_age"), m => Assert.Equal(0, m.Value));
        Assert.Equal(2000, metrics.Where(m => m.Name == "analytics.streams.records").Sum(m => m.Value));
        Assert.All(metrics.Where(m => m.Name == "analytics.streams.records"), m => Assert.Equal("kinesis", m.Provider));
    }

    /// <summary>One collection of the silo's stream meter, as an exporter would take it.</summary>
    private static List<(string Name, string Provider, string Queue, double Value)> CollectStreamMetrics(StreamMetrics source)
    {
        var measured = new List<(string, string, string, double)>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == StreamMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            var named = tags.ToArray().ToDictionary(t => t.Key, t => (string)t.Value!);
            measured.Add((instrument.Name, named["provider"], named["queue"], value));
        });
        listener.Start();
        listener.RecordObservableInstruments();
        GC.KeepAlive(source);
        return measured;
    }

    private static async Task Eventually(Func<Task<bool>> condition, string because)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Condition not met in time: {because}");
            }

            await Task.Delay(50);
        }
    }
}

public sealed class KinesisTallyState
{
    public StreamWatermarks Watermarks { get; set; } = new();

    public Dictionary<string, int> Counts { get; set; } = [];
}

public interface IKinesisTallyGrain : IStreamConsumer
{
    Task<Dictionary<string, int>> Counts();
}

/// <summary>Counts the JSON string values of its stream (the pattern of Runtime.Tests' TallyGrain). Persists at checkpoints.</summary>
[ImplicitStreamSubscription(Namespace)]
public sealed class KinesisTallyGrain([PersistentState("tally", "store")] IPersistentState<KinesisTallyState> state) : StreamConsumerGrain, IKinesisTallyGrain
{
    public const string Namespace = "kinesis-numbers";

    protected override StreamWatermarks Watermarks => state.State.Watermarks;

    public Task<DeliveryOutcome> OnNextAsync(StreamDelivery delivery) => Task.FromResult(ApplyOnce(delivery, d =>
    {
        foreach (var item in d.Items)
        {
            var value = JsonSerializer.Deserialize<string>(((ReadOnlyMemory<byte>)item).Span)!;
            state.State.Counts[value] = state.State.Counts.GetValueOrDefault(value) + 1;
        }
    }));

    protected override Task WriteAsync() => state.WriteStateAsync();

    public Task<Dictionary<string, int>> Counts() => Task.FromResult(new Dictionary<string, int>(state.State.Counts));
}
