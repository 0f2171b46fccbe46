namespace Analytics.Streaming;

/// <summary>
/// What a receiver delivered since its last checkpoint: the Previous position of the next
/// delivery per direct consumer and per published stream, and every checkpoint participant with
/// the last position delivered to it. Across checkpoints it also keeps, per consumer, the last
/// position the consumer confirmed durable, which unmasks a stale duplicate activation. Locked
/// because a page handler may deliver to several consumers at once.
/// </summary>
internal sealed class DeliveryTracker
{
    /// <summary>Beyond this many consumers the confirmations start over (they only sharpen a check, and a consumer without one is checked by a write).</summary>
    internal const int MaxConfirmed = 1_000_000;

    private readonly object _lock = new();
    private readonly Dictionary<GrainId, QueuePosition> _confirmed = [];
    private readonly Dictionary<GrainId, QueuePosition> _byConsumer = [];
    private readonly Dictionary<StreamId, QueuePosition> _byStream = [];
    private readonly Dictionary<GrainId, (IQueueCheckpointParticipant Participant, QueuePosition LastDelivered)> _participants = [];

    public QueuePosition? PreviousFor(GrainId consumer)
    {
        lock (_lock)
        {
            return _byConsumer.TryGetValue(consumer, out var position) ? position : null;
        }
    }

    public QueuePosition? PreviousFor(StreamId stream)
    {
        lock (_lock)
        {
            return _byStream.TryGetValue(stream, out var position) ? position : null;
        }
    }

    public QueuePosition? ConfirmedFor(GrainId consumer)
    {
        lock (_lock)
        {
            return _confirmed.TryGetValue(consumer, out var position) ? position : null;
        }
    }

    public void Delivered(IQueueCheckpointParticipant consumer, QueuePosition last)
    {
        lock (_lock)
        {
            var id = consumer.GetGrainId();
            _byConsumer[id] = last;
            AddParticipant(id, consumer, last);
        }
    }

    public void Published(StreamId stream, QueuePosition last, IQueueCheckpointParticipant consumer)
    {
        lock (_lock)
        {
            _byStream[stream] = last;
            AddParticipant(consumer.GetGrainId(), consumer, last);
        }
    }

    /// <summary>The requests of a checkpoint of <paramref name="queue"/>: one per consumer delivered to.</summary>
    public List<(IQueueCheckpointParticipant Participant, QueueCheckpointRequest Request)> CheckpointRequests(string queue)
    {
        lock (_lock)
        {
            return _participants.Select(p => (p.Value.Participant, new QueueCheckpointRequest(queue, p.Value.LastDelivered, _confirmed.TryGetValue(p.Key, out var confirmed) ? confirmed : null))).ToList();
        }
    }

    /// <summary>After a saved checkpoint: every participant confirmed what it was sent; a replay never goes back before that.</summary>
    public void Confirm()
    {
        lock (_lock)
        {
            if (_confirmed.Count + _participants.Count > MaxConfirmed)
            {
                _confirmed.Clear();
            }

            foreach (var (id, participant) in _participants)
            {
                _confirmed[id] = participant.LastDelivered;
            }
        }
    }

    /// <summary>
    /// After a checkpoint (every participant flushed what it was sent, and nothing was delivered
    /// while it ran) or a rewind (a replay starts over, and its first deliveries say so). The
    /// confirmations stay: they hold whatever is replayed.
    /// </summary>
    public void Clear()
    {
        lock (_lock)
        {
            _byConsumer.Clear();
            _byStream.Clear();
            _participants.Clear();
        }
    }

    private void AddParticipant(GrainId id, IQueueCheckpointParticipant participant, QueuePosition last)
    {
        if (!_participants.TryGetValue(id, out var existing) || existing.LastDelivered < last)
        {
            _participants[id] = (participant, last);
        }
    }
}
