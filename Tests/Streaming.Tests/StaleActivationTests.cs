namespace Analytics.Streaming.Tests;

/// <summary>
/// Two activations of one deduplicating consumer, as Orleans' default grain directory may keep
/// after a silo dies: one loaded the state long ago, the other newer state, and a receiver's calls
/// reach either. The consumer's answers (which items are duplicates) feed a later stage that never
/// sees the consumer's state, so a stale activation must not answer at all: with the receiver's
/// confirmations (<see cref="QueueDelivery{T}.Confirmed"/>) and the rules of
/// <see cref="QueueConsumerGrain"/>, every id reaches the later stage exactly once, over many random runs.
/// </summary>
public sealed class StaleActivationTests
{
    private const string Queue = "q";

    /// <summary>What storage holds for the consumer, with an ETag.</summary>
    private sealed class Store
    {
        public int ETag { get; set; }

        public StreamWatermarks Watermarks { get; set; } = new();

        public Dictionary<int, QueuePosition> Claims { get; set; } = [];
    }

    /// <summary>One activation: a copy of the store when it loaded, then its own effects.</summary>
    private sealed class Activation(Store store, int step)
    {
        private int _etag = store.ETag;
        private int _lastSync = step;

        public StreamWatermarks Watermarks { get; } = new() { Applied = new(store.Watermarks.Applied) };

        public Dictionary<int, QueuePosition> Claims { get; } = new(store.Claims);

        public bool Dropped { get; private set; }

        /// <summary>The rules of QueueConsumerGrain.IsStaleAsync and SourceGroupGrain.OnNextAsync.</summary>
        public DeliveryOutcome OnNext(QueueDelivery<int> delivery, int step, bool checkStale)
        {
            if (checkStale && Watermarks.IsBehind(Queue, delivery.Confirmed))
            {
                Dropped = true;
                return new DeliveryOutcome(DeliveryStatus.Gap);
            }

            if (checkStale && delivery.Confirmed is null && delivery.Previous is null && step - _lastSync > 1 && !Write(step))
            {
                return new DeliveryOutcome(DeliveryStatus.Gap);
            }

            var outcome = Watermarks.Check(delivery);
            if (outcome.Status == DeliveryStatus.Gap)
            {
                return outcome;
            }

            var applying = outcome.Status == DeliveryStatus.Applied;
            var dropped = new List<QueuePosition>();
            for (var i = 0; i < delivery.Items.Count; i++)
            {
                var position = delivery.Positions![i];
                if (!applying && position > outcome.Watermark!.Value)
                {
                    continue;
                }

                var id = delivery.Items[i];
                if (Claims.TryGetValue(id, out var claim) ? claim != position : (applying && Claim(id, position)))
                {
                    dropped.Add(position);
                }
            }

            if (applying)
            {
                Watermarks.Advance(delivery);
            }

            return outcome with { Dropped = dropped };
        }

        public CheckpointAnswer OnCheckpoint(QueueCheckpointRequest request, int step, bool checkStale)
        {
            if (checkStale && Watermarks.IsBehind(Queue, request.Confirmed))
            {
                Dropped = true;
                return CheckpointAnswer.Gap;
            }

            return Watermarks.Covers(request) && Write(step) ? CheckpointAnswer.Flushed : CheckpointAnswer.Gap;
        }

        /// <summary>A conditional write: a stale ETag drops the activation.</summary>
        public bool Write(int step)
        {
            if (_etag != store.ETag)
            {
                Dropped = true;
                return false;
            }

            store.ETag = _etag = store.ETag + 1;
            store.Watermarks = new StreamWatermarks { Applied = new(Watermarks.Applied) };
            store.Claims = new(Claims);
            _lastSync = step;
            return true;
        }

        private bool Claim(int id, QueuePosition position)
        {
            Claims[id] = position;
            return false;
        }
    }

    private static (int Counted, int Distinct) Simulate(int seed, bool checkStale)
    {
        var random = new Random(seed);
        var ids = Enumerable.Range(0, random.Next(5, 40)).Select(n => random.Next(0, 1 + (n / 2))).ToList(); // many repeats
        var store = new Store();
        var activations = new List<Activation>();
        var counted = 0;
        int? laterWatermark = null; // the later stage applies each position once, as the metric grains do
        int committed = 0, lastRead = 0;
        QueuePosition? previous = null, confirmed = null;
        var step = 0;

        Activation Route()
        {
            activations.RemoveAll(a => a.Dropped);
            if (activations.Count == 0 || random.Next(5) == 0)
            {
                // A lookup that misses the directory creates another activation from storage.
                activations.Add(new Activation(store, step));
            }

            return activations[random.Next(activations.Count)];
        }

        for (var guard = 0; guard < 5000 && (lastRead < ids.Count || committed < lastRead); guard++)
        {
            step++;
            var action = random.Next(12);
            if (action == 0)
            {
                // The receiver's silo dies: a new receiver knows no Previous and no confirmations.
                (confirmed, previous, lastRead) = (null, null, committed);
                continue;
            }

            if (action <= 3 || lastRead == ids.Count)
            {
                if (previous is { } last)
                {
                    var request = new QueueCheckpointRequest(Queue, last, checkStale ? confirmed : null);
                    if (Route().OnCheckpoint(request, step, checkStale) != CheckpointAnswer.Flushed)
                    {
                        (lastRead, previous) = (committed, null);
                        continue;
                    }

                    confirmed = last;
                }

                (committed, previous) = (lastRead, null);
                continue;
            }

            // Deliver a page of up to three records; what is not a duplicate goes on.
            var page = Enumerable.Range(lastRead + 1, Math.Min(random.Next(1, 4), ids.Count - lastRead)).ToList();
            var positions = page.Select(n => new QueuePosition(n)).ToList();
            var items = page.Select(n => ids[n - 1]).ToList();
            var dropped = new HashSet<QueuePosition>();
            var gap = false;
            while (positions.Count > 0)
            {
                var delivery = new QueueDelivery<int> { Queue = Queue, First = positions[0], Last = positions[^1], Previous = previous, Confirmed = checkStale ? confirmed : null, Items = items, Positions = positions };
                var outcome = Route().OnNext(delivery, step, checkStale);
                dropped.UnionWith(outcome.Dropped ?? []);
                gap = outcome.Status == DeliveryStatus.Gap;
                if (outcome.Status != DeliveryStatus.ResendAfter)
                {
                    break;
                }

                // As QueuePageContext does: the rest follows on what that activation said it holds.
                var kept = positions.Select((q, i) => (Position: q, Item: items[i])).Where(x => x.Position > outcome.Watermark!.Value).ToList();
                (positions, items, previous) = (kept.Select(x => x.Position).ToList(), kept.Select(x => x.Item).ToList(), checkStale ? outcome.Watermark : previous);
            }

            if (gap)
            {
                (lastRead, previous) = (committed, null);
                continue;
            }

            foreach (var n in page.Where(n => laterWatermark is not { } w || n > w))
            {
                counted += dropped.Contains(new QueuePosition(n)) ? 0 : 1;
                laterWatermark = n;
            }

            (previous, lastRead) = (new QueuePosition(page[^1]), page[^1]);
        }

        Assert.True(committed == ids.Count || !checkStale, $"seed {seed}: the queue never finished (checkpoint {committed} of {ids.Count})");
        return (counted, ids.Distinct().Count());
    }

    [Fact]
    public void Every_id_reaches_the_later_stage_once_whichever_activation_answers()
    {
        for (var seed = 0; seed < 3000; seed++)
        {
            var (counted, distinct) = Simulate(seed, checkStale: true);
            Assert.True(counted == distinct, $"seed {seed}: {counted} items reached the later stage for {distinct} distinct ids");
        }
    }

    [Fact]
    public void Without_the_confirmations_a_stale_activation_lets_duplicates_through()
    {
        // The simulation can fail: without the checks, some runs count an id twice.
        var wrong = Enumerable.Range(0, 3000).Count(seed => Simulate(seed, checkStale: false) is var r && r.Counted != r.Distinct);
        Assert.True(wrong > 100, $"only {wrong} of 3000 runs went wrong, so the simulation hardly exercises stale activations");
    }
}
