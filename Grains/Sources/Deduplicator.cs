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
/// <para>Claims are written incrementally. The claims not yet in a segment (the unsegmented ones)
/// ride along with the group's state while they are few (<see cref="FitsInline"/>, the option
/// <c>Analytics:InlineClaims</c>): rewritten with every state write, they cost no write of their own.
/// Once there are more, they all go into one new immutable segment (<see cref="ClaimSegmentStore"/>),
/// and a segment is deleted once its newest claim is past the horizon. A write therefore costs at
/// most the ids that arrived since the last segment, not the ten minutes of ids the horizon holds
/// (at 10,000 events/s, six million of them).</para>
/// <para>Claims expire by arrival time (grain time, not event time) after the horizon: an
/// unsegmented claim on its own, a segment's claims together once its newest one is past it. A
/// claim that was inline before it moved into a segment may be held up to a horizon longer; it
/// then no longer counts for a new item (<see cref="ClaimOrDetect"/> checks its arrival), only for
/// the judgement of a replay. A replay only goes back to the last stream checkpoint, seconds, so
/// claims are still there when it comes.</para>
/// <para>Ids and items are held as 64-bit hashes (XXH64; the id's seeded with its source). Two
/// ids, or two items with one id, would have to collide within one horizon to be confused.</para>
/// </remarks>
internal sealed class Deduplicator(long horizonMs, int inlineLimit)
{
    /// <summary>Bytes of one claim in a segment or inline: key, item, arrival.</summary>
    private const int ClaimBytes = 24;

    private readonly Dictionary<long, DedupEntry> _claims = [];
    private readonly List<(string Name, long Newest, long[] Keys)> _segments = [];
    private readonly List<(long Key, DedupEntry Claim)> _unsegmented = [];

    public int Count => _claims.Count;

    /// <summary>Claims in no segment, oldest first: written inline with the state, or waiting for their segment.</summary>
    public int Unsegmented => _unsegmented.Count;

    /// <summary>Whether the next write takes the unsegmented claims inline rather than as a segment.</summary>
    public bool FitsInline => _unsegmented.Count <= inlineLimit;

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
        _unsegmented.Add((key, entry));
        return false;
    }

    /// <summary>
    /// For an item applied before (a replay): a duplicate iff another item holds the claim. A claim
    /// past the horizon but not yet removed still counts: it was in force when the item was applied.
    /// </summary>
    public bool IsDuplicateOf(long key, long item) => _claims.TryGetValue(key, out var claim) && claim.Item != item;

    /// <summary>The unsegmented claims in the form of a segment (also that of the inline claims), and the newest arrival among them.</summary>
    public byte[] EncodeUnsegmented(out long newestArrival)
    {
        var bytes = new byte[_unsegmented.Count * ClaimBytes];
        newestArrival = long.MinValue;
        for (var i = 0; i < _unsegmented.Count; i++)
        {
            var (key, claim) = _unsegmented[i];
            var at = bytes.AsSpan(i * ClaimBytes);
            BinaryPrimitives.WriteInt64LittleEndian(at, key);
            BinaryPrimitives.WriteInt64LittleEndian(at[8..], claim.Item);
            BinaryPrimitives.WriteInt64LittleEndian(at[16..], claim.Arrival);
            newestArrival = Math.Max(newestArrival, claim.Arrival);
        }

        return bytes;
    }

    /// <summary>The unsegmented claims are durable in segment <paramref name="name"/> (the first <paramref name="count"/> of them; more may have come since).</summary>
    public void SegmentWritten(string name, long newestArrival, int count)
    {
        _segments.Add((name, newestArrival, _unsegmented.Take(count).Select(p => p.Key).ToArray()));
        _unsegmented.RemoveRange(0, count);
    }

    /// <summary>Adds a stored segment's claims (segments are loaded oldest first, so a later claim on a key wins).</summary>
    public void Load(string name, long newestArrival, ReadOnlySpan<byte> segment)
    {
        var keys = new long[ClaimCount(segment, $"Claim segment {name}")];
        for (var i = 0; i < keys.Length; i++)
        {
            (keys[i], var claim) = Read(segment, i);
            _claims[keys[i]] = claim;
        }

        _segments.Add((name, newestArrival, keys));
    }

    /// <summary>Adds the stored inline claims as unsegmented ones; load them after the segments, whose claims are all older.</summary>
    public void LoadInline(ReadOnlySpan<byte> claims)
    {
        var count = ClaimCount(claims, "The inline claims");
        for (var i = 0; i < count; i++)
        {
            var (key, claim) = Read(claims, i);
            _claims[key] = claim;
            _unsegmented.Add((key, claim));
        }
    }

    /// <summary>
    /// Drops the unsegmented claims that arrived longer than the horizon ago, and the segments
    /// whose newest claim did, with their claims; returns the names of those segments.
    /// </summary>
    public List<string> Expire(long nowMs)
    {
        var cutoff = nowMs - horizonMs;
        ExpireUnsegmented(cutoff);
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

    private void ExpireUnsegmented(long cutoff)
    {
        // Not just a prefix: grain time is the wall clock, which may step back, so arrivals need not be in order.
        var kept = 0;
        for (var i = 0; i < _unsegmented.Count; i++)
        {
            var (key, claim) = _unsegmented[i];
            if (claim.Arrival >= cutoff)
            {
                _unsegmented[kept++] = (key, claim);
            }
            else if (_claims.TryGetValue(key, out var held) && held.Arrival <= claim.Arrival)
            {
                // A key claimed again since (after this claim expired) keeps the newer claim.
                _claims.Remove(key);
            }
        }

        _unsegmented.RemoveRange(kept, _unsegmented.Count - kept);
    }

    private static int ClaimCount(ReadOnlySpan<byte> claims, string what) =>
        claims.Length % ClaimBytes == 0
            ? claims.Length / ClaimBytes
            : throw new InvalidDataException($"{what} has {claims.Length} bytes, not a multiple of {ClaimBytes}.");

    private static (long Key, DedupEntry Claim) Read(ReadOnlySpan<byte> claims, int index)
    {
        var at = claims[(index * ClaimBytes)..];
        return (BinaryPrimitives.ReadInt64LittleEndian(at), new DedupEntry(BinaryPrimitives.ReadInt64LittleEndian(at[8..]), BinaryPrimitives.ReadInt64LittleEndian(at[16..])));
    }
}

/// <summary>The first item seen with an id: a hash of its queue and token, and when it arrived (grain time).</summary>
internal readonly record struct DedupEntry(long Item, long Arrival);
