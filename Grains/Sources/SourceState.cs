using System.Text.Json.Serialization;
using Analytics.Grains.Windows;
using Analytics.Streaming;

namespace Analytics.Grains.Sources;

/// <summary>A source grain's persisted state. It is also the live model: sources are many, so nothing is kept twice.</summary>
public sealed class SourceState
{
    public StreamWatermarks Watermarks { get; set; } = new();

    /// <summary>Earliest event time seen; null until the first event.</summary>
    public long? FirstSeen { get; set; }

    /// <summary>Latest event time seen.</summary>
    public long? LastSeen { get; set; }

    public Dictionary<string, SourceMetric> Metrics { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Dedup claims: hash of an event id to the first item that carried it, within the horizon
    /// (see <see cref="Deduplicator"/>). Hashes rather than ids, because a chatty source holds
    /// hundreds of claims: 16 bytes of key and item instead of a string of up to 257 characters.
    /// </summary>
    [JsonIgnore]
    internal Dictionary<long, DedupEntry> Claims { get; private set; } = [];

    /// <summary>The claims in binary form (19 bytes each, 26 as base64, against ~70 as JSON objects), encoded while the state is serialised.</summary>
    public byte[] Dedup
    {
        get
        {
            using var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream))
            {
                var earliest = Claims.Count == 0 ? 0 : Claims.Values.Min(c => c.Arrival);
                writer.Write7BitEncodedInt(Claims.Count);
                writer.Write7BitEncodedInt64(earliest);
                foreach (var (id, claim) in Claims)
                {
                    writer.Write(id);
                    writer.Write(claim.Item);
                    // Arrivals lie within the horizon of each other, so the offsets take 3 bytes or so.
                    writer.Write7BitEncodedInt64(claim.Arrival - earliest);
                }
            }

            return stream.ToArray();
        }

        set
        {
            using var reader = new BinaryReader(new MemoryStream(value, writable: false));
            var count = reader.Read7BitEncodedInt();
            var earliest = reader.Read7BitEncodedInt64();
            var claims = new Dictionary<long, DedupEntry>(count);
            for (var i = 0; i < count; i++)
            {
                var id = reader.ReadInt64();
                claims[id] = new DedupEntry(reader.ReadInt64(), earliest + reader.Read7BitEncodedInt64());
            }

            Claims = claims;
        }
    }
}

/// <summary>The first item seen with an id: a hash of its queue and token, and when it arrived (grain time).</summary>
internal readonly record struct DedupEntry(long Item, long Arrival);

/// <summary>One metric of one source: the latest value by event time and rolling buckets per tier.</summary>
public sealed class SourceMetric
{
    private BucketSeries[]? _loaded;

    public double Last { get; set; }

    /// <summary>Event time of <see cref="Last"/>; a later event time replaces it, an earlier one does not.</summary>
    public long LastTimestamp { get; set; } = long.MinValue;

    /// <summary>The buckets of every tier, finest first; matched to the configured tiers by <see cref="Attach"/>.</summary>
    [JsonIgnore]
    internal BucketSeries[] Tiers { get; private set; } = [];

    /// <summary>
    /// The tiers in binary form (at most ~28 bytes a bucket before base64, against ~90 as JSON objects). Encoded
    /// while the state is serialised, so no second copy lives between writes.
    /// </summary>
    public byte[] Buckets
    {
        get
        {
            using var stream = new MemoryStream();
            using (var writer = new BinaryWriter(stream))
            {
                writer.Write7BitEncodedInt(Tiers.Length);
                foreach (var tier in Tiers)
                {
                    tier.WriteTo(writer);
                }
            }

            return stream.ToArray();
        }

        set
        {
            using var reader = new BinaryReader(new MemoryStream(value, writable: false));
            var count = reader.Read7BitEncodedInt();
            _loaded = new BucketSeries[count];
            for (var i = 0; i < count; i++)
            {
                _loaded[i] = BucketSeries.ReadFrom(reader);
            }
        }
    }

    /// <summary>
    /// Lines the buckets up with the configured tiers: a loaded tier of the same bucket size is
    /// kept, anything else starts empty (a tier whose size changed cannot be re-bucketed exactly).
    /// </summary>
    internal void Attach(TierSet tiers)
    {
        var available = _loaded ?? Tiers;
        var attached = new BucketSeries[tiers.Count];
        for (var i = 0; i < tiers.Count; i++)
        {
            attached[i] = available.FirstOrDefault(s => s.SizeMs == tiers[i].SizeMs) ?? new BucketSeries(tiers[i].SizeMs);
        }

        Tiers = attached;
        _loaded = null;
    }

    /// <summary>Adds one event to every tier that still keeps its bucket.</summary>
    internal void Add(long timestampMs, double value, TierSet tiers, long nowMs)
    {
        if (timestampMs >= LastTimestamp)
        {
            Last = value;
            LastTimestamp = timestampMs;
        }

        for (var i = 0; i < tiers.Count; i++)
        {
            var tier = tiers[i];
            var oldest = tier.OldestRetained(nowMs);
            if (timestampMs < oldest)
            {
                continue;
            }

            Tiers[i].Prune(oldest);
            Tiers[i].Add(tier.BucketOf(timestampMs), value, (int)(tier.RetentionMs / tier.SizeMs) + 1);
        }
    }

    /// <summary>Approximate heap bytes: this object, its dictionary entry and name, and the bucket arrays.</summary>
    internal long EstimateBytes(string name) => 48 + 32 + 24 + (2 * name.Length) + 24 + Tiers.Sum(t => 32 + t.AllocatedBytes);
}
