using Orleans.Streams;

namespace Analytics.Streaming.Tests;

[Alias("Tests.IDedupGrain")]
public interface IDedupGrain : IQueueConsumer<TestItem>
{
    [Alias("Ids")]
    Task<IReadOnlyList<string>> IdsAsync();

    /// <summary>Deactivates without writing; true when something applied was not yet written (and is now lost).</summary>
    [Alias("LoseUnflushed")]
    Task<bool> LoseUnflushedAsync();
}

[Alias("Tests.ISumGrain")]
public interface ISumGrain : IQueueCheckpointParticipant
{
    [Alias("Get")]
    Task<SumSnapshot> GetAsync();

    [Alias("LoseUnflushed")]
    Task<bool> LoseUnflushedAsync();
}

public sealed class DedupState
{
    /// <summary>Each id with the position where it was first seen: a later position with the same id is a duplicate, on replays too.</summary>
    public Dictionary<string, string> FirstSeen { get; set; } = [];

    public List<string> Order { get; set; } = [];

    public StreamWatermarks Watermarks { get; set; } = new();
}

public sealed class SumState
{
    public List<string> Ids { get; set; } = [];

    public long Sum { get; set; }

    public StreamWatermarks Watermarks { get; set; } = new();
}

/// <summary>Keys whose sum grains throw on stream deliveries until a time (tests in the fault-injection collection only).</summary>
public static class SumFaults
{
    public static System.Collections.Concurrent.ConcurrentDictionary<string, DateTime> FailUntil { get; } = new();

    /// <summary>Keys whose sum grains take a second over each stream delivery until a time.</summary>
    public static System.Collections.Concurrent.ConcurrentDictionary<string, DateTime> SlowUntil { get; } = new();
}

/// <summary>What a sum grain holds, as the tests read it.</summary>
[GenerateSerializer, Immutable, Alias("Tests.SumSnapshot")]
public sealed record SumSnapshot([property: Id(0)] IReadOnlyList<string> Ids, [property: Id(1)] long Sum);

/// <summary>The direct consumer: owns deduplication, reports duplicates as dropped for every item it can judge.</summary>
public sealed class DedupGrain([PersistentState("dedup", StreamCluster.Storage)] IPersistentState<DedupState> state) : QueueConsumerGrain, IDedupGrain
{
    private bool _lose;

    protected override StreamWatermarks Watermarks => state.State.Watermarks;

    protected override Task WriteAsync() => state.WriteStateAsync();

    public async Task<DeliveryOutcome> OnNextAsync(QueueDelivery<TestItem> delivery)
    {
        var positions = delivery.Positions!;
        var outcome = await ApplyOnceAsync(delivery, d =>
        {
            for (var i = 0; i < d.Items.Count; i++)
            {
                if (state.State.FirstSeen.TryAdd(d.Items[i].Id, positions[i].ToString()))
                {
                    state.State.Order.Add(d.Items[i].Id);
                }
            }
        });
        if (outcome.Status == DeliveryStatus.Gap)
        {
            return outcome;
        }

        var dropped = new List<QueuePosition>();
        for (var i = 0; i < delivery.Items.Count; i++)
        {
            if (state.State.FirstSeen.TryGetValue(delivery.Items[i].Id, out var first) && first != positions[i].ToString())
            {
                dropped.Add(positions[i]);
            }
        }

        return outcome with { Dropped = dropped };
    }

    public Task<IReadOnlyList<string>> IdsAsync() => Task.FromResult<IReadOnlyList<string>>(state.State.Order.ToList());

    public Task<bool> LoseUnflushedAsync()
    {
        _lose = true;
        DeactivateOnIdle();
        return Task.FromResult(Dirty);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _lose ? Task.CompletedTask : base.OnDeactivateAsync(reason, cancellationToken);
}

/// <summary>The stream consumer: sums what the dedup grains let through, fed by Orleans' pulling agent.</summary>
[ImplicitStreamSubscription(TestPageHandler.Namespace)]
public sealed class SumGrain([PersistentState("sum", StreamCluster.Storage)] IPersistentState<SumState> state) : QueueConsumerGrain, ISumGrain
{
    private bool _lose;

    protected override StreamWatermarks Watermarks => state.State.Watermarks;

    protected override Task WriteAsync() => state.WriteStateAsync();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var stream = this.GetStreamProvider(StreamCluster.Provider).GetStream<QueueDelivery<SumPartial>>(StreamId.Create(TestPageHandler.Namespace, this.GetPrimaryKeyString()));
        await stream.SubscribeAsync(async (delivery, _) =>
        {
            if (SumFaults.FailUntil.TryGetValue(this.GetPrimaryKeyString(), out var until) && DateTime.UtcNow < until)
            {
                throw new InvalidOperationException("A fault injected by the test.");
            }

            if (SumFaults.SlowUntil.TryGetValue(this.GetPrimaryKeyString(), out var slowUntil) && DateTime.UtcNow < slowUntil)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
            }

            await ApplyOnceAsync(delivery, d =>
            {
                foreach (var partial in d.Items)
                {
                    state.State.Ids.AddRange(partial.Ids);
                    state.State.Sum += partial.Sum;
                }
            });
        });
    }

    public Task<SumSnapshot> GetAsync() => Task.FromResult(new SumSnapshot(state.State.Ids.ToList(), state.State.Sum));

    public Task<bool> LoseUnflushedAsync()
    {
        _lose = true;
        DeactivateOnIdle();
        return Task.FromResult(Dirty);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _lose ? Task.CompletedTask : base.OnDeactivateAsync(reason, cancellationToken);
}
