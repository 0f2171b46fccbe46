namespace Analytics.Runtime.Streaming;

/// <summary>One grain's share of a batch.</summary>
internal sealed class DeliveryGroup(ImplicitSubscription subscription, string grainKey)
{
    public ImplicitSubscription Subscription { get; } = subscription;

    public string GrainKey { get; } = grainKey;

    public List<StreamItem> Items { get; } = [];

    /// <summary>Groups items by (subscribed grain type, grain key), keeping each group in queue order.</summary>
    public static Dictionary<(string GrainType, string Key), DeliveryGroup> Plan(List<StreamItem> items, ImplicitSubscriptions subscriptions, int order, HashSet<StreamSequenceToken>? dropped)
    {
        var groups = new Dictionary<(string, string), DeliveryGroup>();
        foreach (var item in items)
        {
            if (dropped is { Count: > 0 } && dropped.Contains(item.Token))
            {
                continue;
            }

            foreach (var subscription in subscriptions.For(item.Stream.Namespace))
            {
                if (subscription.Order != order)
                {
                    continue;
                }

                var key = subscription.KeyMapper is null ? item.Stream.Key : subscription.KeyMapper.GetGrainKey(item);
                if (key is null)
                {
                    continue;
                }

                if (!groups.TryGetValue((subscription.GrainType, key), out var group))
                {
                    groups[(subscription.GrainType, key)] = group = new DeliveryGroup(subscription, key);
                }

                group.Items.Add(item);
            }
        }

        return groups;
    }

    public StreamDelivery Build(string queue, IReadOnlyList<StreamItem> items, StreamSequenceToken? previous)
    {
        var combined = Subscription.Combiner is { } combiner;
        return new StreamDelivery
        {
            Queue = queue,
            Namespace = items[0].Stream.Namespace,
            First = items[0].Token,
            Last = items[^1].Token,
            Previous = previous,
            Items = combined ? [Subscription.Combiner!.Combine(GrainKey, items)] : items.Select(i => i.Value).ToArray(),
            Tokens = combined ? null : items.Select(i => i.Token).ToArray(),
        };
    }
}
