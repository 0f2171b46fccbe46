using System.Collections.Immutable;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Testing;

namespace Analytics.Runtime.Tests;

public sealed class StreamTests
{
    internal static async Task ProduceAsync(TestCluster cluster, int from, int count, int keys)
    {
        var provider = cluster.Silos[0].Services.GetStreamProvider("numbers");
        for (var i = from; i < from + count; i += 100)
        {
            var batch = Enumerable.Range(i, Math.Min(100, from + count - i))
                .Select(n => (new StreamId("numbers", $"key-{n % keys}"), (ReadOnlyMemory<byte>)System.Text.Json.JsonSerializer.SerializeToUtf8Bytes($"v{n % 3}")))
                .ToList();
            await provider.AppendAsync(batch);
        }
    }

    internal static async Task<int> TotalAsync(TestCluster cluster, int keys)
    {
        var total = 0;
        for (var k = 0; k < keys; k++)
        {
            total += (await cluster.GrainFactory.GetGrain<ITallyGrain>($"key-{k}").Counts()).Values.Sum();
        }

        return total;
    }

    [Fact]
    public async Task Implicit_subscribers_are_activated_and_receive_every_event_of_their_stream_once()
    {
        await using var cluster = await Clusters.StartAsync(silos: 2);
        await ProduceAsync(cluster, 0, 3000, keys: 30);

        await Clusters.Eventually(async () => await TotalAsync(cluster, 30) == 3000, because: "all events are delivered");
        var counts = await cluster.GrainFactory.GetGrain<ITallyGrain>("key-7").Counts();
        Assert.Equal(100, counts.Values.Sum());
        // key-7 receives n = 7, 37, 67, ...: n % 3 cycles through 1, 1+30%3=1... so every value is v1.
        Assert.Equal(100, counts["v1"]);
        await Task.Delay(500);
        Assert.Equal(3000, await TotalAsync(cluster, 30));
    }

    [Fact]
    public async Task Every_queue_is_read_by_exactly_its_rendezvous_owner_as_silos_join()
    {
        await using var cluster = await Clusters.StartAsync(silos: 2);
        var queues = Enumerable.Range(0, 4).Select(i => new QueueId("numbers", i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();

        // Which silo reads each queue must be exactly what rendezvous hashing over the live silos
        // says: no queue unread, none read twice. (With 4 queues a new silo may own none; that
        // is hashing, not a fault, so the test asserts the mapping rather than a share.)
        async Task ExpectOwnersAsync(string because)
        {
            await Clusters.Eventually(() =>
            {
                var silos = cluster.Silos.Select(s => s.Address).OrderBy(a => a.ToString(), StringComparer.Ordinal).ToImmutableArray();
                return Task.FromResult(queues.All(q =>
                {
                    var owner = Placement.RendezvousHashing.PickOwner(q.StableHash, silos);
                    return cluster.Silos.All(s => s.Services.GetPullingAgents().Any(a => a.Queue == q) == (s.Address == owner));
                }));
            }, because: because);
        }

        await ExpectOwnersAsync("two silos share the queues as hashing says");
        await cluster.StartAdditionalSiloAsync();
        await cluster.WaitForLivenessToStabilizeAsync();
        await ExpectOwnersAsync("after a third silo joins, ownership follows the new view");
        await cluster.StopSiloAsync(cluster.Silos[0]);
        await cluster.WaitForLivenessToStabilizeAsync();
        await ExpectOwnersAsync("after a silo leaves, its queues move to the others");
    }

    [Fact]
    public async Task After_a_silo_is_killed_mid_stream_every_event_still_counts_exactly_once()
    {
        await using var cluster = await Clusters.StartAsync(silos: 3);
        await ProduceAsync(cluster, 0, 4000, keys: 40);
        await Clusters.Eventually(async () => await TotalAsync(cluster, 40) >= 2000, because: "delivery is under way");

        // Kill a silo that reads queues and hosts consumer grains, while events keep flowing.
        var victim = cluster.Silos.First(s => s.Services.GetPullingAgents().Any());
        var producing = ProduceAsync(cluster, 4000, 4000, keys: 40);
        await cluster.KillSiloAsync(victim);
        await producing;
        await cluster.WaitForLivenessToStabilizeAsync();

        await Clusters.Eventually(async () => await TotalAsync(cluster, 40) >= 8000, TimeSpan.FromSeconds(30), "every event is delivered after the failover");
        await Task.Delay(1000);
        Assert.Equal(8000, await TotalAsync(cluster, 40));
        for (var k = 0; k < 40; k++)
        {
            Assert.Equal(200, (await cluster.GrainFactory.GetGrain<ITallyGrain>($"key-{k}").Counts()).Values.Sum());
        }
    }

    [Fact]
    public async Task A_record_the_decoder_rejects_goes_to_the_dead_letter_store_and_the_queue_goes_on()
    {
        await using var cluster = await Clusters.StartAsync(silos: 1, configure: s => s.AddStreamDecoder("numbers", _ => new RejectingDecoder()));
        var provider = cluster.Silos[0].Services.GetStreamProvider("numbers");
        await provider.AppendAsync([
            (new StreamId("numbers", "k"), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes("v1")),
            (new StreamId("numbers", "k"), "poison"u8.ToArray()),
            (new StreamId("numbers", "k"), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes("v2")),
        ]);

        await Clusters.Eventually(async () => (await cluster.GrainFactory.GetGrain<ITallyGrain>("k").Counts()).Values.Sum() == 2, because: "the good records arrive");
        var letters = await provider.DeadLetters.ListAsync(10, default);
        var letter = Assert.Single(letters);
        Assert.Equal("poison", System.Text.Encoding.UTF8.GetString(letter.Data));
        Assert.Contains("not JSON", letter.Reason);
    }

    private sealed class RejectingDecoder : IStreamRecordDecoder
    {
        public string? Decode(QueueRecord record, List<StreamItem> items)
        {
            if (record.Data.Span[0] != (byte)'"')
            {
                return "the record is not JSON";
            }

            items.Add(new StreamItem(record.Stream, record.Data, record.Token));
            return null;
        }
    }
}
