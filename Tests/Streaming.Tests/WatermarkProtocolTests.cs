using System.Globalization;

namespace Analytics.Streaming.Tests;

/// <summary>
/// The exactly-once protocol as a simulation, over many random runs: a receiver reads a queue in
/// pages (with <see cref="QueuePageReader"/>, as the real one does), delivers each page to a
/// consumer, checkpoints now and then, and at random moments the consumer loses its unflushed
/// effects, flushes on its own (a deactivation), or the receiver crashes and a new one (with no
/// memory of its page ends) replays from the checkpoint while more records arrive. However that
/// goes, every item ends up applied exactly once, and a run without faults finishes the queue.
/// </summary>
public sealed class WatermarkProtocolTests
{
    private const string Queue = "q";

    /// <summary>A consumer with durable and live state, answering as <see cref="QueueConsumerGrain"/> does.</summary>
    private sealed class Consumer(bool direct)
    {
        private bool _gap;

        public StreamWatermarks Durable { get; private set; } = new();

        public List<int> DurableApplied { get; private set; } = [];

        public StreamWatermarks Live { get; private set; } = new();

        public List<int> LiveApplied { get; private set; } = [];

        public bool Direct => direct;

        public DeliveryOutcome OnNext(QueueDelivery<int> delivery)
        {
            if (delivery.Previous is null)
            {
                _gap = false;
            }
            else if (_gap)
            {
                return new DeliveryOutcome(DeliveryStatus.Gap);
            }

            var outcome = Live.Check(delivery);
            switch (outcome.Status)
            {
                case DeliveryStatus.Applied:
                    LiveApplied.AddRange(delivery.Items);
                    Live.Advance(delivery);
                    break;
                case DeliveryStatus.Gap:
                case DeliveryStatus.ResendAfter when !direct:
                    _gap = true;
                    return outcome with { Status = DeliveryStatus.Gap };
            }

            return outcome;
        }

        public CheckpointAnswer OnCheckpoint(QueueCheckpointRequest request)
        {
            if (_gap)
            {
                return CheckpointAnswer.Gap;
            }

            // Deliveries are synchronous here: not covering what was sent means it was lost.
            if (!Live.Covers(request))
            {
                return CheckpointAnswer.Gap;
            }

            Flush();
            return CheckpointAnswer.Flushed;
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
            _gap = false;
        }
    }

    /// <summary>The receiver's loop, reduced to one consumer and synchronous deliveries.</summary>
    private sealed class Receiver
    {
        private readonly Consumer _consumer;
        private readonly Log _log;
        private QueuePageReader _pages;
        private QueuePosition? _lastRead;
        private QueuePosition? _highWater;
        private QueuePosition? _previous;
        private int _rewindsSinceCheckpoint;

        public Receiver(Consumer consumer, Log log)
        {
            _consumer = consumer;
            _log = log;
            _pages = new QueuePageReader(log.CreateReader());
            Crash();
        }

        public QueuePosition? Committed { get; private set; }

        /// <summary>A new receiver takes over from the checkpoint, knowing nothing of the old one's pages.</summary>
        public void Crash()
        {
            _pages = new QueuePageReader(_log.CreateReader());
            _pages.StartAsync(Committed, CancellationToken.None).GetAwaiter().GetResult();
            _lastRead = Committed;
            _highWater = null;
            _previous = null;
            _rewindsSinceCheckpoint = 0;
        }

        public void ReadPage(int size)
        {
            var page = _pages.ReadPageAsync(size, CancellationToken.None).GetAwaiter().GetResult();
            if (page.Count == 0)
            {
                return;
            }

            var items = page.Select(r => int.Parse(r.Position.Sequence, CultureInfo.InvariantCulture)).ToList();
            var positions = page.Select(r => r.Position).ToList();
            while (items.Count > 0)
            {
                var outcome = _consumer.OnNext(new QueueDelivery<int> { Queue = Queue, First = positions[0], Last = positions[^1], Previous = _previous, Items = items, Positions = _consumer.Direct ? positions : null });
                if (outcome.Status == DeliveryStatus.ResendAfter && _consumer.Direct)
                {
                    positions = positions.Where(p => p > outcome.Watermark!.Value).ToList();
                    items = items.Where(i => new QueuePosition(i) > outcome.Watermark!.Value).ToList();
                    continue;
                }

                if (outcome.Status == DeliveryStatus.Gap && _consumer.Direct)
                {
                    Rewind();
                    return;
                }

                break;
            }

            // A stream delivery's answer reaches nobody; the receiver only records what it sent.
            _previous = page[^1].Position;
            _lastRead = page[^1].Position;
            _highWater = _highWater is { } h && h > _lastRead.Value ? h : _lastRead;
        }

        public void Checkpoint()
        {
            if (_lastRead is not { } last || _lastRead == Committed)
            {
                return;
            }

            if (_previous is { } previous && _consumer.OnCheckpoint(new QueueCheckpointRequest(Queue, previous)) != CheckpointAnswer.Flushed)
            {
                Rewind();
                return;
            }

            Committed = last;
            _previous = null;
            _rewindsSinceCheckpoint = 0;
            _pages.Committed(last);
        }

        private void Rewind()
        {
            _rewindsSinceCheckpoint++;
            _pages.StartAsync(Committed, CancellationToken.None, _rewindsSinceCheckpoint >= 2 ? _highWater : null).GetAwaiter().GetResult();
            _lastRead = Committed;
            _previous = null;
        }
    }

    /// <summary>Records 1..Arrived, one item each.</summary>
    private sealed class Log
    {
        public int Arrived { get; set; }

        public IQueueReader CreateReader() => new Reader(this);

        private sealed class Reader(Log log) : IQueueReader
        {
            private long _after;

            public bool IsAtEnd => false;

            public TimeSpan? Lag => null;

            public Task InitializeAsync(QueuePosition? after, CancellationToken cancellationToken)
            {
                _after = after is { } p ? long.Parse(p.Sequence, CultureInfo.InvariantCulture) : 0;
                return Task.CompletedTask;
            }

            public Task<IReadOnlyList<QueueRecord>> ReadAsync(int maxCount, CancellationToken cancellationToken)
            {
                var records = new List<QueueRecord>();
                while (records.Count < maxCount && _after < log.Arrived)
                {
                    records.Add(new QueueRecord("k", Array.Empty<byte>(), new QueuePosition(++_after)));
                }

                return Task.FromResult<IReadOnlyList<QueueRecord>>(records);
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }

    private static void Simulate(int seed, bool direct)
    {
        var random = new Random(seed);
        var count = random.Next(1, 80);
        var log = new Log { Arrived = random.Next(0, count + 1) };
        var consumer = new Consumer(direct);
        var receiver = new Receiver(consumer, log);
        for (var step = random.Next(0, 150); step > 0; step--)
        {
            switch (random.Next(12))
            {
                case 0:
                    // The receiver's silo crashes; sometimes the consumer was on it too.
                    if (random.Next(2) == 0)
                    {
                        consumer.LoseUnflushed();
                    }

                    receiver.Crash();
                    break;
                case 1:
                    consumer.LoseUnflushed();
                    break;
                case 2:
                    // The consumer deactivates (or its timer fires) and writes what it applied.
                    consumer.Flush();
                    break;
                case 3:
                    receiver.Checkpoint();
                    break;
                case 4:
                    log.Arrived = Math.Min(count, log.Arrived + random.Next(1, 10));
                    break;
                default:
                    receiver.ReadPage(random.Next(1, 8));
                    break;
            }
        }

        // Then a run without faults must finish the queue and checkpoint at its end.
        log.Arrived = count;
        for (var guard = 0; receiver.Committed != new QueuePosition(count); guard++)
        {
            Assert.True(guard < 50 * count + 50, $"seed {seed}: the queue never finished (checkpoint {receiver.Committed})");
            receiver.ReadPage(5);
            if (guard % 3 == 2)
            {
                receiver.Checkpoint();
            }
        }

        Assert.Equal(Enumerable.Range(1, count), consumer.DurableApplied);
    }

    [Fact]
    public void A_stream_consumer_applies_every_item_exactly_once_whatever_the_pages_crashes_and_replays()
    {
        for (var seed = 0; seed < 3000; seed++)
        {
            Simulate(seed, direct: false);
        }
    }

    [Fact]
    public void A_direct_consumer_applies_every_item_exactly_once_whatever_the_pages_crashes_and_replays()
    {
        for (var seed = 0; seed < 3000; seed++)
        {
            Simulate(seed, direct: true);
        }
    }
}
