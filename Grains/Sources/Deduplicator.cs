using System.Buffers.Binary;
using System.Text;
using Analytics.Grains.Sketches;
using Analytics.Streaming;

namespace Analytics.Grains.Sources;

/// <summary>
/// The dedup rule of a source, made safe to replay: an item is a duplicate iff the map holds its
/// id for a different item (queue and token). The first item with an id claims it; the same item
/// delivered again (a replay) finds its own claim and is not a duplicate of itself. So the answer
/// for an item never depends on whether it is seen for the first time, which is what lets the
/// metric grains, one subscription order later, see exactly the same items on every replay.
/// </summary>
/// <remarks>
/// <para>Claims expire by arrival time (grain time, not event time) after the horizon. A replay
/// only goes back to the last stream checkpoint, about a second, so claims are still there when it
/// comes; only a catch-up of a backlog longer than the horizon (after a long outage) judges ids by
/// the time it processes them rather than the time they were accepted.</para>
/// <para>Ids and items are held as 64-bit hashes (XXH64). Two different ids of one source, or two
/// items with the same id, would have to collide within one horizon to be confused.</para>
/// </remarks>
internal sealed class Deduplicator(Dictionary<long, DedupEntry> claims, long horizonMs)
{
    /// <summary>The earliest arrival of any claim, so that a write that expires nothing scans nothing; MinValue until known.</summary>
    private long _oldest = long.MinValue;

    public int Count => claims.Count;

    public static long QueueHash(string queue) => unchecked((long)HyperLogLog.Hash(queue));

    /// <summary>Names one item: its queue (as <see cref="QueueHash"/>) and its token.</summary>
    public static long ItemHash(long queueHash, QueuePosition token)
    {
        // Sequence numbers are decimal digits (Kinesis': 56 of them); the sub-sequence follows as 4 bytes.
        var length = token.Sequence.Length + sizeof(int);
        Span<byte> bytes = length <= 256 ? stackalloc byte[length] : new byte[length];
        Encoding.ASCII.GetBytes(token.Sequence, bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[token.Sequence.Length..], token.SubSequence);
        return unchecked((long)HyperLogLog.XxHash64(bytes, (ulong)queueHash));
    }

    /// <summary>
    /// For an item being applied now: true if an earlier item within the horizon claimed its id;
    /// otherwise the item claims it (replacing an expired claim) and is not a duplicate.
    /// </summary>
    public bool ClaimOrDetect(string id, long item, long nowMs)
    {
        var key = IdHash(id);
        if (claims.TryGetValue(key, out var claim) && claim.Arrival >= nowMs - horizonMs)
        {
            return claim.Item != item;
        }

        claims[key] = new DedupEntry(item, nowMs);
        _oldest = Math.Min(_oldest, nowMs);
        return false;
    }

    /// <summary>
    /// For an item applied before (a replay): a duplicate iff another item holds the claim. A claim
    /// past the horizon but not yet removed still counts: it was in force when the item was applied.
    /// An item whose claim is gone cannot be judged and passes; the later orders' watermarks keep
    /// it from being applied twice, but a duplicate judged so long ago would reach a later order
    /// that had not applied it yet (only in the catch-up case above).
    /// </summary>
    public bool IsDuplicateOf(string id, long item) => claims.TryGetValue(IdHash(id), out var claim) && claim.Item != item;

    /// <summary>Removes claims that arrived longer than the horizon ago.</summary>
    public void Expire(long nowMs)
    {
        var cutoff = nowMs - horizonMs;
        if (_oldest >= cutoff)
        {
            return;
        }

        var oldest = long.MaxValue;
        foreach (var (id, claim) in claims)
        {
            if (claim.Arrival < cutoff)
            {
                claims.Remove(id);
            }
            else
            {
                oldest = Math.Min(oldest, claim.Arrival);
            }
        }

        _oldest = oldest;
    }

    private static long IdHash(string id) => unchecked((long)HyperLogLog.Hash(id));
}
