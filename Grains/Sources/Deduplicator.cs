using System.Buffers.Binary;
using System.Text;
using Analytics.Grains.Sketches;
using Analytics.Streaming;

namespace Analytics.Grains.Sources;

/// <summary>
/// The dedup rule of a source group's sources, made safe to replay: an item is a duplicate iff
/// the group holds a claim on its source and id by a different item (queue and token). The first
/// item with an id claims it; the same item delivered again (a replay) finds its own claim and is
/// not a duplicate of itself. So the answer for an item never depends on whether it is seen for
/// the first time, which is what lets the metric grains, one stage later, see exactly the same
/// items on every replay.
/// </summary>
/// <remarks>
/// <para>Claims are written incrementally: the claims made since the last write go into one new
/// immutable segment (<see cref="ClaimSegmentStore"/>), and a segment is deleted once its newest
/// claim is past the horizon. A write therefore costs the ids that arrived since the last one,
/// not the ten minutes of ids the horizon holds (at 10,000 events/s, six million of them).</para>
/// <para>Claims expire by arrival time (grain time, not event time) after the horizon, a segment
/// at a time, so a claim may outlive the horizon by up to a flush interval. A replay only goes
/// back to the last stream checkpoint, seconds, so claims are still there when it comes.</para>
/// <para>Ids and items are held as 64-bit hashes (XXH64; the id's seeded with its source). Two
/// ids, or two items with one id, would have to collide within one horizon to be confused.</para>
/// </remarks>
internal sealed class Deduplicator(long horizonMs)
{
    /// <summary>Bytes of one claim in a segment: key, item, arrival.</summary>
    private const int ClaimBytes = 24;

    private readonly Dictionary<long, DedupEntry> _claims = [];
    private readonly List<(string Name, long Newest, long[] Keys)> _segments = [];
    private readonly List<(long Key, DedupEntry Claim)> _pending = [];

    public int Count => _claims.Count;

    /// <summary>Claims made since the last write, waiting for their segment.</summary>
    public int Pending => _pending.Count;

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

    /// <summary>The claim key of an id of one source: ids are unique per source, so two sources may share one.</summary>
    public static long ClaimKey(string source, string id)
    {
        var length = Encoding.UTF8.GetMaxByteCount(id.Length);
        Span<byte> bytes = length <= 512 ? stackalloc byte[length] : new byte[length];
        var written = Encoding.UTF8.GetBytes(id, bytes);
        return unchecked((long)HyperLogLog.XxHash64(bytes[..written], HyperLogLog.Hash(source)));
    }

    /// <summary>
    /// For an item being applied now: true if an earlier item within the horizon claimed its id;
    /// otherwise the item claims it (replacing an expired claim) and is not a duplicate.
    /// </summary>
    public bool ClaimOrDetect(long key, long item, long nowMs)
    {
        if (_claims.TryGetValue(key, out var claim) && claim.Arrival >= nowMs - horizonMs)
        {
            return claim.Item != item;
        }

        var entry = new DedupEntry(item, nowMs);
        _claims[key] = entry;
        _pending.Add((key, entry));
        return false;
    }

    /// <summary>
    /// For an item applied before (a replay): a duplicate iff another item holds the claim. A claim
    /// past the horizon but not yet removed still counts: it was in force when the item was applied.
    /// </summary>
    public bool IsDuplicateOf(long key, long item) => _claims.TryGetValue(key, out var claim) && claim.Item != item;

    /// <summary>The pending claims as a segment, and the newest arrival among them.</summary>
    public byte[] EncodePending(out long newestArrival)
    {
        var bytes = new byte[_pending.Count * ClaimBytes];
        newestArrival = long.MinValue;
        for (var i = 0; i < _pending.Count; i++)
        {
            var (key, claim) = _pending[i];
            var at = bytes.AsSpan(i * ClaimBytes);
            BinaryPrimitives.WriteInt64LittleEndian(at, key);
            BinaryPrimitives.WriteInt64LittleEndian(at[8..], claim.Item);
            BinaryPrimitives.WriteInt64LittleEndian(at[16..], claim.Arrival);
            newestArrival = Math.Max(newestArrival, claim.Arrival);
        }

        return bytes;
    }

    /// <summary>The pending claims are durable in segment <paramref name="name"/> (the first <paramref name="count"/> of them; more may have come since).</summary>
    public void PendingWritten(string name, long newestArrival, int count)
    {
        _segments.Add((name, newestArrival, _pending.Take(count).Select(p => p.Key).ToArray()));
        _pending.RemoveRange(0, count);
    }

    /// <summary>Adds a stored segment's claims (segments are loaded oldest first, so a later claim on a key wins).</summary>
    public void Load(string name, long newestArrival, ReadOnlySpan<byte> segment)
    {
        if (segment.Length % ClaimBytes != 0)
        {
            throw new InvalidDataException($"Claim segment {name} has {segment.Length} bytes, not a multiple of {ClaimBytes}.");
        }

        var keys = new long[segment.Length / ClaimBytes];
        for (var i = 0; i < keys.Length; i++)
        {
            var at = segment[(i * ClaimBytes)..];
            keys[i] = BinaryPrimitives.ReadInt64LittleEndian(at);
            _claims[keys[i]] = new DedupEntry(BinaryPrimitives.ReadInt64LittleEndian(at[8..]), BinaryPrimitives.ReadInt64LittleEndian(at[16..]));
        }

        _segments.Add((name, newestArrival, keys));
    }

    /// <summary>Drops the segments whose newest claim arrived longer than the horizon ago, and their claims; returns their names.</summary>
    public List<string> Expire(long nowMs)
    {
        var cutoff = nowMs - horizonMs;
        var expired = new List<string>();
        while (_segments.Count > 0 && _segments[0].Newest < cutoff)
        {
            var (name, newest, keys) = _segments[0];
            foreach (var key in keys)
            {
                // A key claimed again since (after its claim expired) keeps the newer claim.
                if (_claims.TryGetValue(key, out var claim) && claim.Arrival <= newest)
                {
                    _claims.Remove(key);
                }
            }

            _segments.RemoveAt(0);
            expired.Add(name);
        }

        return expired;
    }
}

/// <summary>The first item seen with an id: a hash of its queue and token, and when it arrived (grain time).</summary>
internal readonly record struct DedupEntry(long Item, long Arrival);
