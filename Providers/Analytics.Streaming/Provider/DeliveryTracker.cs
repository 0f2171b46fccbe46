namespace Analytics.Streaming;

/// <summary>
/// What a receiver delivered since its last checkpoint: the Previous position of the next
/// delivery per direct consumer and per published stream, and every checkpoint participant with
/// the last position delivered to it. Locked because a page handler may deliver to several
/// consumers at once.
/// </summary>
internal sealed class DeliveryTracker
{
    private readonly object _lock = new();
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
            return _participants.Values.Select(p => (p.Participant, new QueueCheckpointRequest(queue, p.LastDelivered))).ToList();
        }
    }

    /// <summary>
    /// After a checkpoint (every participant flushed what it was sent, and nothing was delivered
    /// while it ran) or a rewind (a replay starts over, and its first deliveries say so).
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
