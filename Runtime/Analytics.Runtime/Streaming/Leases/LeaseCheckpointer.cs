namespace Analytics.Runtime.Streaming.Leases;

/// <summary>
/// One agent's checkpoints in its queue's lease row: loaded from the lease as it was taken, and
/// saved only while this silo still owns the lease, so that a silo that lost a queue can never
/// move its checkpoint (the new owner's progress stays the truth).
/// </summary>
internal sealed class LeaseCheckpointer(IQueueLeaseTable table, QueueLease taken) : IStreamCheckpointer
{
    private readonly string _owner = taken.Owner ?? throw new ArgumentException("The lease must be owned.", nameof(taken));

    public Task<StreamSequenceToken?> LoadAsync(QueueId queue, CancellationToken cancellationToken) => Task.FromResult(taken.CheckpointToken);

    public Task SaveAsync(QueueId queue, StreamSequenceToken token, CancellationToken cancellationToken) =>
        SaveAsync(queue, token.ToString(), cancellationToken);

    public Task SaveEndAsync(QueueId queue, CancellationToken cancellationToken) =>
        SaveAsync(queue, QueueLease.EndCheckpoint, cancellationToken);

    private async Task SaveAsync(QueueId queue, string checkpoint, CancellationToken cancellationToken)
    {
        if (!await table.TryCheckpointAsync(queue, _owner, checkpoint, cancellationToken).ConfigureAwait(false))
        {
            throw new QueueLeaseLostException(queue, _owner);
        }
    }
}

/// <summary>The provider-wide checkpointer of a lease-balanced provider: there is none, each agent uses its lease's.</summary>
public sealed class LeaseOnlyCheckpointer(string providerName) : IStreamCheckpointer
{
    public Task<StreamSequenceToken?> LoadAsync(QueueId queue, CancellationToken cancellationToken) => throw Unsupported();

    public Task SaveAsync(QueueId queue, StreamSequenceToken token, CancellationToken cancellationToken) => throw Unsupported();

    private InvalidOperationException Unsupported() =>
        new($"Stream provider '{providerName}' keeps its checkpoints in its lease table; register it with UseLeaseBalancing.");
}
