using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Analytics.Aws.Kinesis;
using FsCheck;
using FsCheck.Fluent;

namespace Analytics.Aws.Tests;

public sealed class KplAggregationTests
{
    private static readonly byte[] Magic = [0xF3, 0x89, 0x9A, 0xC2];

    // Partition keys are Unicode: mix in multi-byte and surrogate-pair characters.
    private static readonly Gen<string> PartitionKeys =
        Gen.ArrayOf(Gen.Elements("a", "b", "Z", "0", "-", "é", "中", "😀", "key")).Select(parts => string.Concat(parts));

    private static readonly Gen<byte[]> Data = Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b));

    private static readonly Gen<string?> ExplicitHashKeys = Gen.OneOf(
        Gen.Constant<string?>(null),
        Gen.Choose(0, int.MaxValue).Select(n => (string?)n.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    private static readonly Gen<List<KplRecord>> Records =
        Gen.NonEmptyListOf(
                from key in PartitionKeys
                from data in Data
                from hashKey in ExplicitHashKeys
                select new KplRecord(key, data, hashKey))
            .Select(records => records.ToList());

    [Fact]
    public void Aggregating_then_deaggregating_gives_back_every_record_in_order()
    {
        Prop.ForAll(Records.ToArbitrary(), records =>
        {
            var result = KplAggregation.Deaggregate(KplAggregation.Aggregate(records), "outer-key");

            Assert.Equal(KplRecordKind.Aggregated, result.Kind);
            Assert.Null(result.Error);
            Assert.Equal(records.Count, result.Records.Count);
            for (var i = 0; i < records.Count; i++)
            {
                Assert.Equal(records[i].PartitionKey, result.Records[i].PartitionKey);
                Assert.Equal(records[i].ExplicitHashKey, result.Records[i].ExplicitHashKey);
                Assert.Equal(records[i].Data.ToArray(), result.Records[i].Data.ToArray());
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void Corrupting_any_byte_is_detected()
    {
        var cases =
            from records in Records
            from position in Gen.Choose(0, int.MaxValue)
            from flip in Gen.Choose(1, 255)
            select (records, position, (byte)flip);

        Prop.ForAll(cases.ToArbitrary(), c =>
        {
            var data = KplAggregation.Aggregate(c.records);
            var position = c.position % data.Length;
            data[position] ^= c.Item3;

            var result = KplAggregation.Deaggregate(data, "outer-key");
            if (position < Magic.Length)
            {
                // No magic: plain data, which the event decoder then rejects as not JSON.
                Assert.Equal(KplRecordKind.NotAggregated, result.Kind);
            }
            else
            {
                Assert.Equal(KplRecordKind.Invalid, result.Kind);
                Assert.Contains("MD5", result.Error, StringComparison.Ordinal);
                Assert.Empty(result.Records);
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    [Fact]
    public void The_wire_format_is_kpls()
    {
        // AggregatedRecord { partition_key_table: ["a"], records: [{ partition_key_index: 0, data: "hi" }] }
        // written by hand from the protobuf encoding rules: field 1 (0x0A) "a"; field 3 (0x1A) a
        // 6-byte Record of field 1 (0x08) varint 0 and field 3 (0x1A) "hi".
        byte[] body = [0x0A, 0x01, (byte)'a', 0x1A, 0x06, 0x08, 0x00, 0x1A, 0x02, (byte)'h', (byte)'i'];

        Assert.Equal(Wrap(body), KplAggregation.Aggregate([new KplRecord("a", "hi"u8.ToArray())]));
    }

    [Fact]
    public void Repeated_keys_share_one_table_entry()
    {
        var records = Enumerable.Range(0, 100).Select(i => new KplRecord(i % 2 == 0 ? "even" : "odd", new byte[] { (byte)i }, "12345")).ToList();
        var aggregated = KplAggregation.Aggregate(records);

        // Each key is stored once in its table, however many records use it.
        Assert.Equal(1, CountOccurrences(aggregated, "even"u8));
        Assert.Equal(1, CountOccurrences(aggregated, "12345"u8));
        Assert.Equal(records, KplAggregation.Deaggregate(aggregated, "x").Records.Select(r => r with { Data = r.Data.ToArray() }), RecordComparer.Instance);
    }

    [Fact]
    public void A_plain_record_is_its_own_single_user_record()
    {
        var json = Encoding.UTF8.GetBytes("{\"source\":\"s\",\"metric\":\"m\",\"value\":1}");
        var result = KplAggregation.Deaggregate(json, "pk");

        Assert.Equal(KplRecordKind.NotAggregated, result.Kind);
        var record = Assert.Single(result.Records);
        Assert.Equal("pk", record.PartitionKey);
        Assert.Equal(json, record.Data.ToArray());
        Assert.True(result.IsValid);

        // The magic alone, too short to hold a checksum, is plain data as in KPL's readers.
        Assert.Equal(KplRecordKind.NotAggregated, KplAggregation.Deaggregate(Magic.Concat(new byte[15]).ToArray(), "pk").Kind);
    }

    [Theory]
    [InlineData(new byte[] { 0x0A, 0x05, (byte)'a' }, "runs past the end")] // length beyond the message
    [InlineData(new byte[] { 0x0A, 0x01, (byte)'a' }, "no user records")]
    [InlineData(new byte[] { 0x0A, 0x01, (byte)'a', 0x1A, 0x04, 0x08, 0x01, 0x1A, 0x00 }, "index 1 is outside")] // only key 0 exists
    [InlineData(new byte[] { 0x0A, 0x01, (byte)'a', 0x1A, 0x02, 0x1A, 0x00 }, "required field")] // no partition_key_index
    [InlineData(new byte[] { 0x0A, 0x01, (byte)'a', 0x1A, 0x02, 0x08, 0x00 }, "required field")] // no data
    [InlineData(new byte[] { 0x0A, 0x01, (byte)'a', 0x1A, 0x06, 0x08, 0x00, 0x10, 0x00, 0x1A, 0x00 }, "explicit hash key index 0 is outside")]
    [InlineData(new byte[] { 0x0A, 0x01, 0xFF, 0x1A, 0x04, 0x08, 0x00, 0x1A, 0x00 }, "not valid UTF-8")]
    [InlineData(new byte[] { 0x0B }, "wire type 3")] // a group: not used by KPL
    [InlineData(new byte[] { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, "malformed")] // varint over 10 bytes
    public void A_checksummed_but_malformed_body_is_a_poison_record_with_its_reason(byte[] body, string reason)
    {
        var result = KplAggregation.Deaggregate(Wrap(body), "pk");

        Assert.Equal(KplRecordKind.Invalid, result.Kind);
        Assert.False(result.IsValid);
        Assert.Empty(result.Records);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
        Assert.StartsWith("KPL aggregated record", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Tags_and_unknown_fields_are_skipped()
    {
        byte[] body =
        [
            0x0A, 0x01, (byte)'k',
            0x38, 0x96, 0x01, // field 7, varint: unknown to us
            0x1A, 0x0C,
            0x08, 0x00,
            0x22, 0x04, 0x0A, 0x02, (byte)'t', (byte)'g', // field 4: a Tag { key: "tg" }
            0x1A, 0x02, (byte)'o', (byte)'k',
            0x4D, 0x01, 0x02, 0x03, 0x04, // field 9, fixed32: unknown
        ];

        var record = Assert.Single(KplAggregation.Deaggregate(Wrap(body), "pk").Records);
        Assert.Equal("k", record.PartitionKey);
        Assert.Equal("ok"u8.ToArray(), record.Data.ToArray());
    }

    [Fact]
    public void User_records_are_slices_of_the_kinesis_records_data_not_copies()
    {
        var aggregated = KplAggregation.Aggregate([new KplRecord("a", new byte[] { 1, 2, 3 }), new KplRecord("b", new byte[] { 4 })]);
        var result = KplAggregation.Deaggregate(aggregated, "pk");

        Assert.All(result.Records, r => Assert.True(MemoryMarshal.TryGetArray(r.Data, out var segment) && ReferenceEquals(segment.Array, aggregated)));
        Assert.Throws<ArgumentException>(() => KplAggregation.Aggregate([]));
    }

    private static byte[] Wrap(byte[] body) => [.. Magic, .. body, .. MD5.HashData(body)];

    private static int CountOccurrences(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle)
    {
        var count = 0;
        for (var at = haystack.IndexOf(needle); at >= 0; at = haystack.IndexOf(needle))
        {
            count++;
            haystack = haystack[(at + needle.Length)..];
        }

        return count;
    }

    private sealed class RecordComparer : IEqualityComparer<KplRecord>
    {
        public static readonly RecordComparer Instance = new();

        public bool Equals(KplRecord? x, KplRecord? y) =>
            x is not null && y is not null && x.PartitionKey == y.PartitionKey && x.ExplicitHashKey == y.ExplicitHashKey && x.Data.Span.SequenceEqual(y.Data.Span);

        public int GetHashCode(KplRecord obj) => obj.PartitionKey.GetHashCode(StringComparison.Ordinal);
    }
}
