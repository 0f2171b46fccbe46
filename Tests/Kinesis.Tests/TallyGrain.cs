using System.Globalization;
using System.Text;

namespace Analytics.Kinesis.Tests;

[GenerateSerializer, Immutable, Alias("Kinesis.Tests.TallyReport")]
public sealed record TallyReport([property: Id(0)] int Count, [property: Id(1)] int Duplicates, [property: Id(2)] int OutOfOrder);

/// <summary>A direct consumer per stream key: the integers of its key, each applied once.</summary>
[Alias("Kinesis.Tests.ITallyGrain")]
public interface ITallyGrain : IQueueConsumer<int>
{
    [Alias("Report")]
    Task<TallyReport> Report();
}

public sealed class TallyState
{
    public StreamWatermarks Watermarks { get; set; } = new();

    public List<int> Values { get; set; } = [];

    public int OutOfOrder { get; set; }
}

/// <summary>
/// Keeps every integer of its key as applied, and counts those that came after a larger one:
/// a key's integers are written in increasing order, so a reader that keeps order, and a replay
/// that applies nothing twice, leave no duplicates and nothing out of order.
/// </summary>
public sealed class TallyGrain([PersistentState("tally", TallyGrain.Storage)] IPersistentState<TallyState> state) : QueueConsumerGrain, ITallyGrain
{
    public const string Storage = "store";

    protected override StreamWatermarks Watermarks => state.State.Watermarks;

    protected override Task WriteAsync() => state.WriteStateAsync();

    public Task<DeliveryOutcome> OnNextAsync(QueueDelivery<int> delivery) => ApplyOnceAsync(delivery, d =>
    {
        var values = state.State.Values;
        foreach (var value in d.Items)
        {
            state.State.OutOfOrder += values.Count > 0 && value < values[^1] ? 1 : 0;
            values.Add(value);
        }
    });

    public Task<TallyReport> Report()
    {
        var values = state.State.Values;
        return Task.FromResult(new TallyReport(values.Count, values.Count - values.Distinct().Count(), state.State.OutOfOrder));
    }
}

/// <summary>What a page means in these tests: each key's integers, delivered to the key's tally.</summary>
public sealed class TallyPageHandler : IQueuePageHandler
{
    public async Task<bool> HandleAsync(QueuePage page, IQueuePageContext context)
    {
        foreach (var key in page.Items.GroupBy(i => i.StreamKey))
        {
            var items = key.ToList();
            var values = items.Select(i => int.Parse(Encoding.UTF8.GetString(((ReadOnlyMemory<byte>)i.Value).Span), CultureInfo.InvariantCulture)).ToList();
            var outcome = await context.DeliverAsync(context.GrainFactory.GetGrain<ITallyGrain>(key.Key), values, [.. items.Select(i => i.Position)]);
            if (outcome.Status == DeliveryStatus.Gap)
            {
                return false;
            }
        }

        return true;
    }
}
