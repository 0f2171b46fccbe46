namespace Analytics.Persistence.DynamoDB;

/// <summary>
/// What a DynamoDB grain storage provider has done, counted in items (the unit DynamoDB bills
/// writes in, per KB). Divide <see cref="ItemWrites"/> by the events processed for "DynamoDB
/// writes per event". Thread-safe; read while writes go on.
/// </summary>
public sealed class DynamoDBGrainStorageStatistics
{
    private long _headWrites;
    private long _headDeletes;
    private long _chunksWritten;
    private long _chunkBytesWritten;
    private long _chunksSkipped;
    private long _chunksDeleted;
    private long _reads;
    private long _chunksRead;

    /// <summary>Conditional head writes that succeeded: one per successful WriteStateAsync.</summary>
    public long HeadWrites => Volatile.Read(ref _headWrites);

    /// <summary>Heads deleted by ClearStateAsync.</summary>
    public long HeadDeletes => Volatile.Read(ref _headDeletes);

    /// <summary>Chunk items put because their content was not in the replaced version.</summary>
    public long ChunksWritten => Volatile.Read(ref _chunksWritten);

    public long ChunkBytesWritten => Volatile.Read(ref _chunkBytesWritten);

    /// <summary>Chunk items not written because the replaced version already had their content.</summary>
    public long ChunksSkipped => Volatile.Read(ref _chunksSkipped);

    /// <summary>Chunk items deleted: replaced by a newer version, cleared, or orphaned by a crashed writer.</summary>
    public long ChunksDeleted => Volatile.Read(ref _chunksDeleted);

    /// <summary>Every item write of any kind: heads, chunks and deletes.</summary>
    public long ItemWrites => HeadWrites + HeadDeletes + ChunksWritten + ChunksDeleted;

    /// <summary>States read that existed.</summary>
    public long Reads => Volatile.Read(ref _reads);

    public long ChunksRead => Volatile.Read(ref _chunksRead);

    internal void AddHeadWrite() => Interlocked.Increment(ref _headWrites);

    internal void AddHeadDelete() => Interlocked.Increment(ref _headDeletes);

    internal void AddChunks(int written, int skipped, long bytes)
    {
        Interlocked.Add(ref _chunksWritten, written);
        Interlocked.Add(ref _chunksSkipped, skipped);
        Interlocked.Add(ref _chunkBytesWritten, bytes);
    }

    internal void AddChunkDeletes(int count) => Interlocked.Add(ref _chunksDeleted, count);

    internal void AddRead(int chunks)
    {
        Interlocked.Increment(ref _reads);
        Interlocked.Add(ref _chunksRead, chunks);
    }

    public override string ToString() =>
        $"heads written {HeadWrites}, deleted {HeadDeletes}; chunks written {ChunksWritten} ({ChunkBytesWritten} bytes), skipped {ChunksSkipped}, deleted {ChunksDeleted}; reads {Reads} ({ChunksRead} chunks)";
}
