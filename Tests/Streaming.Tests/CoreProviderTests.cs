using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Streaming.Tests;

/// <summary>The shared core with a minimal provider: closed queues, lost leases, metrics.</summary>
public sealed class CoreProviderTests : IDisposable
{
    private readonly TestData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task A_closed_queue_read_to_its_end_is_checkpointed_there_and_its_end_recorded()
    {
        var queues = new MemoryQueues(4);
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { Memory = queues });
        await cluster.AppendAsync(0, 400, keys: 8);
        for (var q = 0; q < 4; q++)
        {
            queues.Close(q);
        }

        await Eventually.TrueAsync(() => Task.FromResult(Enumerable.Range(0, 4).All(queues.Ended)), "every queue's end is recorded");
        await cluster.AssertExactAsync(400, keys: 8);
        foreach (var statistics in cluster.Statistics)
        {
            Assert.False(statistics.Active);
            Assert.Equal(statistics.LastDelivered, statistics.Committed);
        }

        for (var q = 0; q < 4; q++)
        {
            var partition = q;
            Assert.Equal(cluster.Statistics.Single(s => s.Queue == MemoryQueues.QueueName(partition)).Records, long.Parse(queues.Checkpoint(q)!.Value.Sequence, System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public async Task A_receiver_whose_lease_was_lost_stops_reading_its_queue()
    {
        var queues = new MemoryQueues(2);
        var lost = MemoryQueues.QueueName(0);
        queues.LeaseLost[lost] = true;
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { Memory = queues });
        await Eventually.TrueAsync(() => Task.FromResult(cluster.Statistics.Count() == 2), "both receivers start");
        await cluster.AppendAsync(0, 200, keys: 10);

        await Eventually.TrueAsync(() => Task.FromResult(cluster.Statistics.Single(s => s.Queue == lost) is { Active: false }), "the receiver of the lost queue stops");
        var readBefore = cluster.Statistics.Single(s => s.Queue == lost).Records;
        await cluster.AppendAsync(200, 200, keys: 10);
        var end = CountIn(queues, 1, 400).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await Eventually.TrueAsync(() => Task.FromResult(queues.Checkpoint(1) is { } c && c.Sequence == end), "the other queue is read and checkpointed to its end");
        await Task.Delay(300);
        Assert.Equal(readBefore, cluster.Statistics.Single(s => s.Queue == lost).Records);
        Assert.Null(queues.Checkpoint(0));
    }

    [Fact]
    public async Task The_meter_reports_records_and_iterator_age_per_queue()
    {
        var queues = new MemoryQueues(2);
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { Memory = queues });
        await cluster.AppendAsync(0, 100, keys: 4);
        await Eventually.TrueAsync(async () => await cluster.CountAsync(4) >= 100, "the items arrive");

        var measurements = new ConcurrentBag<(string Instrument, double Value, string Queue)>();
        using var listener = new MeterListener();
        var metrics = cluster.LiveSilo.ServiceProvider.GetRequiredService<StreamMetrics>();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter) && instrument.Meter.Name == StreamMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            var queue = tags.ToArray().Single(t => t.Key == "queue").Value as string;
            measurements.Add((instrument.Name, value, queue!));
        });
        listener.Start();
        listener.RecordObservableInstruments();
        GC.KeepAlive(metrics);

        Assert.Equal(100, measurements.Where(m => m.Instrument == "analytics.streams.records").Sum(m => m.Value));
        Assert.Equal(2, measurements.Count(m => m.Instrument == "analytics.streams.iterator_age"));
    }

    private static int CountIn(MemoryQueues queues, int partition, int items) =>
        Enumerable.Range(0, items).Count(n => queues.PartitionOf(StreamCluster.Item(n, 10).Key) == partition);
}

/// <summary>Tests that inject faults into grains by key run alone, so that no other cluster's grain of the same key sees them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultInjectionCollection
{
    public const string Name = "fault injection";
}

[Collection(FaultInjectionCollection.Name)]
public sealed class DeliveryFailureTests : IDisposable
{
    private readonly TestData _data = new();

    public void Dispose()
    {
        SumFaults.FailUntil.Clear();
        SumFaults.SlowUntil.Clear();
        _data.Dispose();
    }

    [Fact]
    public async Task A_stream_delivery_that_Orleans_gives_up_on_is_replayed_not_lost()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { MaxEventDeliveryTime = TimeSpan.FromMilliseconds(500) });
        await cluster.AppendAsync(0, 300, keys: 3);
        await Eventually.TrueAsync(async () => await cluster.CountAsync(3) >= 300, "the first items arrive");

        // The sum grain of key-1 throws on every delivery for a while: Orleans retries, gives up,
        // and tells the failure handler, which makes the receiver replay.
        SumFaults.FailUntil[StreamCluster.Key(1)] = DateTime.UtcNow.AddSeconds(2);
        await cluster.AppendAsync(300, 300, keys: 3);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(3) >= 600, "every item arrives once the grain recovers");
        await Task.Delay(500);
        await cluster.AssertExactAsync(600, keys: 3);
        Assert.True(cluster.Statistics.Sum(s => s.DeliveryFailures) >= 1);
        Assert.True(cluster.Statistics.Sum(s => s.Rewinds) >= 1);
    }

    [Fact]
    public async Task A_checkpoint_that_waits_too_long_for_a_stream_delivery_replays_and_totals_stay_exact()
    {
        await using var cluster = await StreamCluster.StartAsync(_data.Settings with { PendingCheckpointTimeout = TimeSpan.FromMilliseconds(500) });
        await cluster.AppendAsync(0, 300, keys: 3);
        await Eventually.TrueAsync(async () => await cluster.CountAsync(3) >= 300, "the first items arrive");

        // The sum grain of key-2 takes a second over each delivery for a while: checkpoints find
        // it Pending, give up waiting, and replay.
        SumFaults.SlowUntil[StreamCluster.Key(2)] = DateTime.UtcNow.AddSeconds(3);
        await cluster.AppendAsync(300, 300, keys: 3);

        await Eventually.TrueAsync(async () => await cluster.CountAsync(3) >= 600, "every item arrives once the grain is fast again", TimeSpan.FromSeconds(60));
        await Task.Delay(500);
        await cluster.AssertExactAsync(600, keys: 3);
        Assert.True(cluster.Statistics.Sum(s => s.Rewinds) >= 1);
    }
}
