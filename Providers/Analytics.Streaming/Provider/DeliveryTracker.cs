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

    /// <summary>
    /// After a saved checkpoint: every participant it asked confirmed what it was sent up to then,
    /// and a replay never goes back before that. Participants delivered to since stay for the next one.
    /// </summary>
    public void Checkpointed(IEnumerable<(IQueueCheckpointParticipant Participant, QueueCheckpointRequest Request)> requests)
    {
        lock (_lock)
        {
            if (_confirmed.Count > MaxConfirmed)
            {
                _confirmed.Clear();
            }

            foreach (var (participant, request) in requests)
            {
                var id = participant.GetGrainId();
                _confirmed[id] = request.LastDelivered;
                if (_participants.TryGetValue(id, out var current) && current.LastDelivered <= request.LastDelivered)
                {
                    _participants.Remove(id);
                }
            }
        }
    }

    /// <summary>
    /// After a rewind: a replay starts over, and its first deliveries say so. The confirmations
    /// stay: they hold whatever is replayed. A checkpoint clears no Previous: a consumer that
    /// confirmed a position holds it durably, so a watermark behind Previous still means lost effects.
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
