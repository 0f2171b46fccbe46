using System.Globalization;
using System.Text;

namespace Analytics.Streaming.Tests;

/// <summary>One test event: an id (duplicates share it), the key it counts for, and a value.</summary>
[GenerateSerializer, Immutable, Alias("Tests.TestItem")]
public sealed record TestItem([property: Id(0)] string Id, [property: Id(1)] string Key, [property: Id(2)] int Value)
{
    public static ReadOnlyMemory<byte> Encode(params TestItem[] items) =>
        Encoding.UTF8.GetBytes(string.Join(';', items.Select(i => string.Create(CultureInfo.InvariantCulture, $"{i.Id}:{i.Key}:{i.Value}"))));
}

/// <summary>What the test handler publishes per key and page: the ids that survived deduplication and their sum.</summary>
[GenerateSerializer, Immutable, Alias("Tests.SumPartial")]
public sealed record SumPartial([property: Id(0)] IReadOnlyList<string> Ids, [property: Id(1)] long Sum);

/// <summary>Records of "id:key:value" items separated by ';'; anything else is a poison record.</summary>
public sealed class TestRecordDecoder : IQueueRecordDecoder
{
    public string? Decode(QueueRecord record, List<QueueItem> items)
    {
        var text = Encoding.UTF8.GetString(record.Data.Span);
        var parts = text.Split(';');
        var decoded = new List<QueueItem>(parts.Length);
        for (var i = 0; i < parts.Length; i++)
        {
            var fields = parts[i].Split(':');
            if (fields.Length != 3 || !int.TryParse(fields[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                return $"item {i} is not id:key:value";
            }

            decoded.Add(new QueueItem(fields[1], new TestItem(fields[0], fields[1], value), new QueuePosition(record.Position.Sequence, i)));
        }

        items.AddRange(decoded);
        return null;
    }
}

/// <summary>
/// The application's part, as the analytics handler does it: each key's items go first to its
/// dedup grain (a direct consumer, which reports duplicates), then what survived is published,
/// summed, to the key's sum grain on an Orleans stream.
/// </summary>
public sealed class TestPageHandler : IQueuePageHandler
{
    public const string Namespace = "sums";

    public async Task<bool> HandleAsync(QueuePage page, IQueuePageContext context)
    {
        var groups = page.Items.GroupBy(i => i.StreamKey, StringComparer.Ordinal).ToList();
        var outcomes = await Task.WhenAll(groups.Select(g => context.DeliverAsync(
            context.GrainFactory.GetGrain<IDedupGrain>(g.Key),
            g.Select(i => (TestItem)i.Value).ToList(),
            g.Select(i => i.Position).ToList())));
        if (outcomes.Any(o => o.Status == DeliveryStatus.Gap))
        {
            return false;
        }

        var dropped = outcomes.SelectMany(o => o.Dropped ?? []).ToHashSet();
        foreach (var group in groups)
        {
            var kept = group.Where(i => !dropped.Contains(i.Position)).Select(i => (TestItem)i.Value).ToList();
            if (kept.Count > 0)
            {
                context.Publish(
                    StreamId.Create(Namespace, group.Key),
                    new SumPartial(kept.Select(i => i.Id).ToList(), kept.Sum(i => (long)i.Value)),
                    group.First().Position,
                    group.Last().Position,
                    context.GrainFactory.GetGrain<ISumGrain>(group.Key));
            }
        }

        return true;
    }
}
