using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Analytics.Aws.Kinesis;

/// <summary>One user record inside (or instead of) a KPL aggregated Kinesis record.</summary>
public sealed record KplRecord(string PartitionKey, ReadOnlyMemory<byte> Data, string? ExplicitHashKey = null);

public enum KplRecordKind
{
    /// <summary>A plain record: no KPL magic. Its data is the one user record.</summary>
    NotAggregated,

    /// <summary>A valid aggregated record: its user records, in order.</summary>
    Aggregated,

    /// <summary>KPL magic, but a checksum that does not match or a body that cannot be read: a poison record.</summary>
    Invalid,
}

/// <summary>What a Kinesis record holds: its user records, or why it cannot be read.</summary>
public sealed record KplDeaggregation(KplRecordKind Kind, IReadOnlyList<KplRecord> Records, string? Error)
{
    public bool IsValid => Kind != KplRecordKind.Invalid;
}

/// <summary>
/// The Kinesis Producer Library's aggregation format: many user records packed into one Kinesis
/// record, to get past the per-shard limit of 1,000 records a second. The layout is the 4 magic
/// bytes F3 89 9A C2, then a protobuf <c>AggregatedRecord</c>, then the MD5 of those protobuf bytes:
/// <code>
/// message AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2; repeated Record records = 3; }
/// message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2; required bytes data = 3; repeated Tag tags = 4; }
/// </code>
/// </summary>
public static class KplAggregation
{
    private const int DigestLength = 16;

    private const int PartitionKeyTableField = 1;
    private const int ExplicitHashKeyTableField = 2;
    private const int RecordsField = 3;

    private const int PartitionKeyIndexField = 1;
    private const int ExplicitHashKeyIndexField = 2;
    private const int DataField = 3;

    private static readonly byte[] MagicBytes = [0xF3, 0x89, 0x9A, 0xC2];

    // Protobuf strings are UTF-8; invalid bytes mean a corrupt record, not replacement characters.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static ReadOnlySpan<byte> Magic => MagicBytes;

    /// <summary>
    /// Whether the data is meant as an aggregated record. KPL's own readers take data that begins
    /// with the magic but is too short to hold a checksum as a plain record, and so does this.
    /// </summary>
    public static bool HasMagic(ReadOnlySpan<byte> data) =>
        data.Length >= MagicBytes.Length + DigestLength && data.StartsWith(MagicBytes);

    /// <summary>
    /// The user records of a Kinesis record. A plain record comes back as itself, under the
    /// Kinesis record's own partition key. A record with the magic whose checksum does not match,
    /// or whose protobuf is malformed, is <see cref="KplRecordKind.Invalid"/> with the reason:
    /// KPL would pass it through as plain data, but our records are JSON, so it is poison either way,
    /// and saying why helps whoever inspects the dead-letter store.
    /// </summary>
    public static KplDeaggregation Deaggregate(ReadOnlyMemory<byte> data, string partitionKey)
    {
        var span = data.Span;
        if (!HasMagic(span))
        {
            return new KplDeaggregation(KplRecordKind.NotAggregated, [new KplRecord(partitionKey, data)], null);
        }

        var body = data[MagicBytes.Length..^DigestLength];
        Span<byte> digest = stackalloc byte[DigestLength];
        MD5.HashData(body.Span, digest);
        if (!digest.SequenceEqual(span[^DigestLength..]))
        {
            return Invalid($"KPL aggregated record ({data.Length} bytes): the MD5 checksum does not match its contents (corrupt or truncated).");
        }

        return TryParse(body, out var records, out var error)
            ? new KplDeaggregation(KplRecordKind.Aggregated, records, null)
            : Invalid($"KPL aggregated record ({data.Length} bytes): {error}");
    }

    /// <summary>
    /// Packs user records into one aggregated record, sharing repeated partition and explicit hash
    /// keys through the tables as KPL does. The caller keeps the result within Kinesis' 1 MiB and
    /// writes it under one of its records' partition keys (KPL uses the first).
    /// </summary>
    public static byte[] Aggregate(IReadOnlyList<KplRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            throw new ArgumentException("An aggregated record holds at least one user record.", nameof(records));
        }

        var partitionKeys = new Dictionary<string, int>(StringComparer.Ordinal);
        var explicitHashKeys = new Dictionary<string, int>(StringComparer.Ordinal);
        var body = new ArrayBufferWriter<byte>();
        var recordBuffer = new ArrayBufferWriter<byte>();

        // The tables come first in the message, so gather them before writing anything.
        var indexes = new (int PartitionKey, int? ExplicitHashKey)[records.Count];
        for (var i = 0; i < records.Count; i++)
        {
            var record = records[i];
            ArgumentNullException.ThrowIfNull(record.PartitionKey);
            indexes[i] = (IndexOf(partitionKeys, record.PartitionKey), record.ExplicitHashKey is { } key ? IndexOf(explicitHashKeys, key) : null);
        }

        foreach (var key in partitionKeys.OrderBy(p => p.Value))
        {
            ProtobufWire.WriteBytes(body, PartitionKeyTableField, StrictUtf8.GetBytes(key.Key));
        }

        foreach (var key in explicitHashKeys.OrderBy(p => p.Value))
        {
            ProtobufWire.WriteBytes(body, ExplicitHashKeyTableField, StrictUtf8.GetBytes(key.Key));
        }

        for (var i = 0; i < records.Count; i++)
        {
            recordBuffer.ResetWrittenCount();
            ProtobufWire.WriteTag(recordBuffer, PartitionKeyIndexField, ProtobufWire.WireVarint);
            ProtobufWire.WriteVarint(recordBuffer, (ulong)indexes[i].PartitionKey);
            if (indexes[i].ExplicitHashKey is { } hashKeyIndex)
            {
                ProtobufWire.WriteTag(recordBuffer, ExplicitHashKeyIndexField, ProtobufWire.WireVarint);
                ProtobufWire.WriteVarint(recordBuffer, (ulong)hashKeyIndex);
            }

            ProtobufWire.WriteBytes(recordBuffer, DataField, records[i].Data.Span);
            ProtobufWire.WriteBytes(body, RecordsField, recordBuffer.WrittenSpan);
        }

        var result = new byte[MagicBytes.Length + body.WrittenCount + DigestLength];
        MagicBytes.CopyTo(result, 0);
        body.WrittenSpan.CopyTo(result.AsSpan(MagicBytes.Length));
        MD5.HashData(body.WrittenSpan, result.AsSpan(MagicBytes.Length + body.WrittenCount));
        return result;
    }

    private static int IndexOf(Dictionary<string, int> table, string key)
    {
        if (!table.TryGetValue(key, out var index))
        {
            index = table.Count;
            table.Add(key, index);
        }

        return index;
    }

    private static KplDeaggregation Invalid(string error) => new(KplRecordKind.Invalid, [], error);

    private static bool TryParse(ReadOnlyMemory<byte> body, out IReadOnlyList<KplRecord> records, out string? error)
    {
        records = [];
        var partitionKeys = new List<string>();
        var explicitHashKeys = new List<string>();
        var recordBodies = new List<ReadOnlyMemory<byte>>();

        var reader = new ProtobufReader(body.Span);
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType))
            {
                error = "malformed protobuf (bad field tag).";
                return false;
            }

            if (field is PartitionKeyTableField or ExplicitHashKeyTableField or RecordsField && wireType == ProtobufWire.WireLengthDelimited)
            {
                if (!reader.TryReadLengthDelimited(out var value))
                {
                    error = $"malformed protobuf (field {field} runs past the end).";
                    return false;
                }

                if (field == RecordsField)
                {
                    // Kept as a slice of the caller's memory: user record data is not copied.
                    recordBodies.Add(body.Slice(reader.Position - value.Length, value.Length));
                }
                else if (!TryDecodeString(value, out var text))
                {
                    error = $"a key in table {field} is not valid UTF-8.";
                    return false;
                }
                else
                {
                    (field == PartitionKeyTableField ? partitionKeys : explicitHashKeys).Add(text);
                }
            }
            else if (!reader.TrySkip(wireType))
            {
                error = $"malformed protobuf (field {field} with wire type {wireType}).";
                return false;
            }
        }

        if (recordBodies.Count == 0)
        {
            error = "it holds no user records.";
            return false;
        }

        var parsed = new KplRecord[recordBodies.Count];
        for (var i = 0; i < parsed.Length; i++)
        {
            if (!TryParseRecord(recordBodies[i], partitionKeys, explicitHashKeys, out var record, out var recordError))
            {
                error = $"user record {i}: {recordError}";
                return false;
            }

            parsed[i] = record;
        }

        records = parsed;
        error = null;
        return true;
    }

    private static bool TryParseRecord(
        ReadOnlyMemory<byte> body, List<string> partitionKeys, List<string> explicitHashKeys, out KplRecord record, out string? error)
    {
        record = null!;
        ulong? partitionKeyIndex = null;
        ulong? explicitHashKeyIndex = null;
        ReadOnlyMemory<byte>? data = null;

        var reader = new ProtobufReader(body.Span);
        while (!reader.AtEnd)
        {
            if (!reader.TryReadTag(out var field, out var wireType))
            {
                error = "malformed protobuf (bad field tag).";
                return false;
            }

            if (field is PartitionKeyIndexField or ExplicitHashKeyIndexField && wireType == ProtobufWire.WireVarint)
            {
                if (!reader.TryReadVarint(out var index))
                {
                    error = "malformed protobuf (truncated index).";
                    return false;
                }

                if (field == PartitionKeyIndexField)
                {
                    partitionKeyIndex = index;
                }
                else
                {
                    explicitHashKeyIndex = index;
                }
            }
            else if (field == DataField && wireType == ProtobufWire.WireLengthDelimited)
            {
                if (!reader.TryReadLengthDelimited(out var value))
                {
                    error = "malformed protobuf (data runs past the end).";
                    return false;
                }

                data = body.Slice(reader.Position - value.Length, value.Length);
            }
            else if (!reader.TrySkip(wireType))
            {
                // Tags (field 4) and unknown fields are skipped, as protobuf requires.
                error = $"malformed protobuf (field {field} with wire type {wireType}).";
                return false;
            }
        }

        if (partitionKeyIndex is not { } pk || data is not { } bytes)
        {
            error = "a required field (partition_key_index or data) is missing.";
            return false;
        }

        if (pk >= (ulong)partitionKeys.Count)
        {
            error = $"partition key index {pk} is outside the table of {partitionKeys.Count}.";
            return false;
        }

        string? explicitHashKey = null;
        if (explicitHashKeyIndex is { } ehk)
        {
            if (ehk >= (ulong)explicitHashKeys.Count)
            {
                error = $"explicit hash key index {ehk} is outside the table of {explicitHashKeys.Count}.";
                return false;
            }

            explicitHashKey = explicitHashKeys[(int)ehk];
        }

        record = new KplRecord(partitionKeys[(int)pk], bytes, explicitHashKey);
        error = null;
        return true;
    }

    private static bool TryDecodeString(ReadOnlySpan<byte> bytes, out string text)
    {
        try
        {
            text = StrictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = "";
            return false;
        }
    }
}
