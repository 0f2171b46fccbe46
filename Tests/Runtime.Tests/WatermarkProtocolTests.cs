using Analytics.Runtime.Streaming;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Runtime.Tests;

/// <summary>
/// The exactly-once protocol, checked as a property: an agent delivers a queue in random batches,
/// checkpoints now and then, and at random moments the grain loses its unflushed effects or the
/// agent crashes and replays from its checkpoint with different batch boundaries. However that
/// goes, every item ends up applied exactly once.
/// </summary>
public sealed class WatermarkProtocolTests
{
    private sealed class Grain
    {
        public StreamWatermarks Durable { get; private set; } = new();

        public List<int> DurableApplied { get; private set; } = [];

        public StreamWatermarks Live { get; private set; } = new();

        public List<int> LiveApplied { get; private set; } = [];

        public DeliveryOutcome OnNext(StreamDelivery delivery)
        {
            var outcome = Live.Check(delivery);
            if (outcome.Status == DeliveryStatus.Applied)
            {
                LiveApplied.AddRange(delivery.Items.Cast<int>());
                Live.Advance(delivery);
            }

            return outcome;
        }

        public void Flush()
        {
            Durable = new StreamWatermarks { Applied = new(Live.Applied) };
            DurableApplied = [.. LiveApplied];
        }

        public void LoseUnflushed()
        {
            Live = new StreamWatermarks { Applied = new(Durable.Applied) };
            LiveApplied = [.. DurableApplied];
        }
    }

    private sealed class Agent(Grain grain, int itemCount)
    {
        public int Checkpoint { get; private set; }

        public int Position { get; set; }

        public int? Previous { get; set; }

        public bool Done => Position >= itemCount;

        public void Replay()
        {
            Position = Checkpoint;
            Previous = null;
        }

        /// <summary>As the agent does: the grain must confirm it holds everything delivered to it, or the agent replays.</summary>
        public void CheckpointNow()
        {
            if (Previous is { } last && !grain.Live.Covers(new StreamCheckpointRequest("q", new StreamSequenceToken(last))))
            {
                Replay();
                return;
            }

            grain.Flush();
            Checkpoint = Position;
            Previous = null;
        }

        /// <summary>Delivers the next batch as the pulling agent does: resend after the watermark, replay on a gap.</summary>
        public void DeliverBatch(int size)
        {
            var items = Enumerable.Range(Position + 1, Math.Min(size, itemCount - Position)).ToList();
            while (items.Count > 0)
            {
                var outcome = grain.OnNext(new StreamDelivery
                {
                    Queue = "q",
                    Namespace = "n",
                    First = new StreamSequenceToken(items[0]),
                    Last = new StreamSequenceToken(items[^1]),
                    Previous = Previous is { } p ? new StreamSequenceToken(p) : null,
                    Items = items.Cast<object>().ToList(),
                });
                switch (outcome.Status)
                {
                    case DeliveryStatus.ResendAfter:
                        var watermark = int.Parse(outcome.Watermark!.Value.Sequence, System.Globalization.CultureInfo.InvariantCulture);
                        items = items.Where(i => i > watermark).ToList();
                        continue;
                    case DeliveryStatus.Gap:
                        Replay();
                        return;
                    default:
                        Previous = items[^1];
                        Position = items[^1];
                        return;
                }
            }
        }
    }

    private static bool Simulate(int itemCount, int[] choices)
    {
        var grain = new Grain();
        var agent = new Agent(grain, itemCount);

        // Faults and batches as the choices dictate...
        foreach (var choice in choices)
        {
            var c = Math.Abs(choice % 1000);
            switch (c % 10)
            {
                case 0:
                    // The agent's silo crashes; sometimes the grain was on it too.
                    if (c / 10 % 2 == 0)
                    {
                        grain.LoseUnflushed();
                    }

                    agent.Replay();
                    break;
                case 1:
                    // The grain's silo dies alone; the agent does not know.
                    grain.LoseUnflushed();
                    break;
                case 2:
                    agent.CheckpointNow();
                    break;
                default:
                    if (!agent.Done)
                    {
                        agent.DeliverBatch(1 + c / 10 % 7);
                    }

                    break;
            }
        }

        // ...then a run without faults must finish the queue and checkpoint at its end.
        for (var guard = 0; agent.Checkpoint < itemCount && guard < 10 * itemCount + 10; guard++)
        {
            if (agent.Done)
            {
                agent.CheckpointNow();
            }
            else
            {
                agent.DeliverBatch(5);
            }
        }

        return grain.DurableApplied.Order().SequenceEqual(Enumerable.Range(1, itemCount));
    }

    [Fact]
    public void Every_item_is_applied_exactly_once_whatever_the_batches_crashes_and_replays()
    {
        Prop.ForAll(
                Gen.Choose(1, 60).ToArbitrary(),
                ArbMap.Default.ArbFor<int[]>(),
                (count, choices) => Simulate(count, choices))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(3000).WithEndSize(200));
    }

    [Fact]
    public void A_replay_with_different_batch_boundaries_is_split_at_the_watermark()
    {
        var watermarks = new StreamWatermarks();
        watermarks.Advance(new StreamDelivery { Queue = "q", Namespace = "n", First = new(1), Last = new(5), Items = [] });
        var replay = new StreamDelivery { Queue = "q", Namespace = "n", First = new(3), Last = new(9), Items = [] };
        var outcome = watermarks.Check(replay);
        Assert.Equal(DeliveryStatus.ResendAfter, outcome.Status);
        Assert.Equal(new StreamSequenceToken(5), outcome.Watermark);
        Assert.Equal(DeliveryStatus.AlreadyApplied, watermarks.Check(new StreamDelivery { Queue = "q", Namespace = "n", First = new(2), Last = new(4), Items = [] }).Status);
        Assert.Equal(DeliveryStatus.Gap, watermarks.Check(new StreamDelivery { Queue = "q", Namespace = "n", First = new(9), Last = new(9), Previous = new(8), Items = [] }).Status);
        Assert.Equal(DeliveryStatus.Applied, watermarks.Check(new StreamDelivery { Queue = "other", Namespace = "n", First = new(1), Last = new(1), Items = [] }).Status);
    }

    [Fact]
    public void Sequence_tokens_order_by_magnitude_then_sub_sequence_and_round_trip_as_text()
    {
        var kinesisLike = new StreamSequenceToken("49590338271490256608559692538361571095921575989136588898");
        Assert.True(new StreamSequenceToken("999") < new StreamSequenceToken("1000"));
        Assert.True(new StreamSequenceToken(7, 1) > new StreamSequenceToken(7));
        Assert.True(kinesisLike > new StreamSequenceToken(long.MaxValue));
        Assert.Equal(new StreamSequenceToken("12", 3), StreamSequenceToken.Parse("12.3"));
        Assert.Equal(kinesisLike, StreamSequenceToken.Parse(kinesisLike.ToString()));
        Assert.Throws<ArgumentException>(() => new StreamSequenceToken("007"));
        Assert.Throws<ArgumentException>(() => new StreamSequenceToken("12a"));
    }
}
