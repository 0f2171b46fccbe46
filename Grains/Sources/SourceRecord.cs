using System.Text.Json;
using System.Text.Json.Serialization;
using Analytics.Grains.Windows;

namespace Analytics.Grains.Sources;

/// <summary>
/// One source's data inside its group's state (<see cref="SourceGroupState"/>): first and last
/// seen, and per metric the latest value and rolling buckets (its dedup claims are the group's,
/// see <see cref="Deduplicator"/>). It is also the live model: sources are many, so nothing is
/// kept twice.
/// </summary>
/// <remarks>
/// It is stored in its own compact binary form (<see cref="Encode"/>), as a base64 string in the
/// group's JSON. The encoding is not kept between writes: it would take about as much memory as
/// the record itself, against the budget of 8 KB a metric.
/// </remarks>
[JsonConverter(typeof(SourceRecordJsonConverter))]
public sealed class SourceRecord
{
    private const byte FormatVersion = 1;

    /// <summary>Earliest event time seen; null until the first event.</summary>
    public long? FirstSeen { get; private set; }

    /// <summary>Latest event time seen.</summary>
    public long? LastSeen { get; private set; }

    public Dictionary<string, SourceMetric> Metrics { get; } = new(StringComparer.Ordinal);

    /// <summary>Adds one event: first and last seen, the metric's last value and its buckets.</summary>
    internal void Add(string metricName, long timestampMs, double value, TierSet tiers, long nowMs)
    {
        FirstSeen = Math.Min(FirstSeen ?? long.MaxValue, timestampMs);
        LastSeen = Math.Max(LastSeen ?? long.MinValue, timestampMs);
        if (!Metrics.TryGetValue(metricName, out var metric))
        {
            Metrics[metricName] = metric = new SourceMetric();
            metric.Attach(tiers);
        }

        metric.Add(timestampMs, value, tiers, nowMs);
    }

    /// <summary>Drops buckets past their retention.</summary>
    internal void Expire(TierSet tiers, long nowMs)
    {
        foreach (var metric in Metrics.Values)
        {
            for (var i = 0; i < tiers.Count; i++)
            {
                metric.Tiers[i].Prune(tiers[i].OldestRetained(nowMs));
            }
        }
    }

    [ThreadStatic]
    private static MemoryStream? t_scratch;

    /// <summary>The binary form: first and last seen, and every metric's last value and buckets.</summary>
    internal byte[] Encode() => EncodeToScratch().ToArray();

    /// <summary>
    /// Writes the binary form into this thread's reused buffer and returns it, valid until the next
    /// call on the thread. A group's write encodes every one of its sources; a fresh, regrown
    /// stream for each was a tenth of the silo's allocations (PERFORMANCE.md, issue 14).
    /// </summary>
    internal MemoryStream EncodeToScratch()
    {
        var stream = t_scratch ??= new MemoryStream(4096);
        stream.SetLength(0);
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(FormatVersion);
            writer.Write(FirstSeen is not null);
            if (FirstSeen is { } first)
            {
                writer.Write(first);
                writer.Write(LastSeen!.Value);
            }

            writer.Write7BitEncodedInt(Metrics.Count);
            foreach (var (name, metric) in Metrics)
            {
                writer.Write(name);
                metric.WriteTo(writer);
            }
        }

        return stream;
    }

    /// <summary>Reads <see cref="Encode"/>'s form; call <see cref="SourceMetric.Attach"/> on the metrics before use.</summary>
    internal static SourceRecord Decode(byte[] encoded)
    {
        using var reader = new BinaryReader(new MemoryStream(encoded, writable: false));
        if (reader.ReadByte() is var version && version != FormatVersion)
        {
            throw new InvalidDataException($"Source record format {version} is not known; this build reads format {FormatVersion}.");
        }

        var record = new SourceRecord();
        if (reader.ReadBoolean())
        {
            record.FirstSeen = reader.ReadInt64();
            record.LastSeen = reader.ReadInt64();
        }

        var metrics = reader.Read7BitEncodedInt();
        for (var i = 0; i < metrics; i++)
        {
            var name = reader.ReadString();
            record.Metrics[name] = SourceMetric.ReadFrom(reader);
        }

        return record;
    }
}

/// <summary>A record as the base64 of its binary form (about a third of the size of the same data as JSON objects).</summary>
internal sealed class SourceRecordJsonConverter : JsonConverter<SourceRecord>
{
    public override SourceRecord Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        SourceRecord.Decode(reader.GetBytesFromBase64());

    public override void Write(Utf8JsonWriter writer, SourceRecord value, JsonSerializerOptions options)
    {
        var encoded = value.EncodeToScratch();
        writer.WriteBase64StringValue(encoded.GetBuffer().AsSpan(0, (int)encoded.Length));
    }
}

/// <summary>One metric of one source: the latest value by event time and rolling buckets per tier.</summary>
public sealed class SourceMetric
{
    private BucketSeries[]? _loaded;

    public double Last { get; private set; }

    /// <summary>Event time of <see cref="Last"/>; a later event time replaces it, an earlier one does not.</summary>
    public long LastTimestamp { get; private set; } = long.MinValue;

    /// <summary>The buckets of every tier, finest first; matched to the configured tiers by <see cref="Attach"/>.</summary>
    internal BucketSeries[] Tiers { get; private set; } = [];

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

    /// <summary>The last value, its time and every tier's buckets (at most ~28 bytes a bucket).</summary>
    internal void WriteTo(BinaryWriter writer)
    {
        writer.Write(Last);
        writer.Write(LastTimestamp);
        var tiers = _loaded ?? Tiers;
        writer.Write7BitEncodedInt(tiers.Length);
        foreach (var tier in tiers)
        {
            tier.WriteTo(writer);
        }
    }

    internal static SourceMetric ReadFrom(BinaryReader reader)
    {
        var metric = new SourceMetric { Last = reader.ReadDouble(), LastTimestamp = reader.ReadInt64() };
        metric._loaded = new BucketSeries[reader.Read7BitEncodedInt()];
        for (var i = 0; i < metric._loaded.Length; i++)
        {
            metric._loaded[i] = BucketSeries.ReadFrom(reader);
        }

        return metric;
    }

    /// <summary>Approximate heap bytes: this object, its dictionary entry and name, and the bucket arrays.</summary>
    internal long EstimateBytes(string name) => 48 + 32 + 24 + (2 * name.Length) + 24 + Tiers.Sum(t => 32 + t.AllocatedBytes);
}
