namespace Analytics.Streaming.Kinesis;

/// <summary>
/// A Kinesis provider's checkpoints, kept in the shards' lease rows. A queue is named by its shard
/// id. Loads and saves succeed only while this silo holds the shard's lease, so a silo that lost a
/// shard can never move its checkpoint: the new owner's progress stays the truth.
/// </summary>
public sealed class KinesisLeaseCheckpointer(IShardLeaseTable table, KinesisQueueBalancer balancer) : IQueueCheckpointer
{
    private ShardLeaseManager Leases => balancer.Leases;

    public async Task<QueuePosition?> LoadAsync(string queue, CancellationToken cancellationToken)
    {
        var lease = await table.ReadAsync(queue, cancellationToken).ConfigureAwait(false);
        if (lease is null || lease.Owner != Leases.Owner || lease.IsEnded)
        {
            // Lost between the balancer's pass and the agent's start, or ended: the receiver must not read it.
            throw new QueueLeaseLostException(queue, Leases.Owner);
        }

        return lease.Position;
    }

    public async Task SaveAsync(string queue, QueuePosition position, CancellationToken cancellationToken)
    {
        if (!await Leases.CheckpointAsync(queue, position, cancellationToken).ConfigureAwait(false))
        {
            // The shard is dropped already: tell the pulling manager, which stops its agent.
            balancer.Notify();
            throw new QueueLeaseLostException(queue, Leases.Owner);
        }
    }

    public async Task SaveEndAsync(string queue, CancellationToken cancellationToken)
    {
        var ended = await Leases.EndAsync(queue, cancellationToken).ConfigureAwait(false);
        // Either way this silo no longer reads the shard; when it ended, its children may be ready.
        balancer.Notify();
        balancer.Wake(listShards: ended);
        if (!ended)
        {
            throw new QueueLeaseLostException(queue, Leases.Owner);
        }
    }
}
