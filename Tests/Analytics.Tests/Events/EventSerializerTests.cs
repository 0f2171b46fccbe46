using System.Buffers;
using System.Text;
using Analytics.Events;
using FsCheck;
using FsCheck.Fluent;
using static Analytics.Tests.Events.EventTestKit;

namespace Analytics.Tests.Events;

public sealed class EventSerializerTests
{
    private static readonly EventValidationOptions Stored = EventValidationOptions.ForStoredEvents();

    [Fact]
    public void Writes_the_contract_form_compactly()
    {
        var e = new AnalyticsEvent("dev-42", "temperature", 21.5, 1_795_255_200_250, "dev-42-000173");

        Assert.Equal(
            "{\"source\":\"dev-42\",\"metric\":\"temperature\",\"value\":21.5,\"timestamp\":\"2026-11-21T10:00:00.250Z\",\"id\":\"dev-42-000173\"}",
            EventSerializer.Serialize(e));
    }

    [Fact]
    public void Leaves_out_a_missing_id_and_keeps_unicode_readable()
    {
        var e = new AnalyticsEvent("capteur-é \"x\"", "m", -0.5, 0);

        Assert.Equal(
            "{\"source\":\"capteur-é \\\"x\\\"\",\"metric\":\"m\",\"value\":-0.5,\"timestamp\":\"1970-01-01T00:00:00.000Z\"}",
            EventSerializer.Serialize(e));
    }

    [Fact]
    public void Refuses_events_with_no_json_form()
    {
        Assert.Throws<ArgumentException>(() => EventSerializer.Serialize(new AnalyticsEvent("s", "m", double.NaN, 0)));
        Assert.Throws<ArgumentException>(() => EventSerializer.Serialize(new AnalyticsEvent("s", "m", double.PositiveInfinity, 0)));
        Assert.Throws<ArgumentException>(() => EventSerializer.Serialize(default));
    }

    [Fact]
    public void Ndjson_batch_is_one_line_per_event_and_reads_back()
    {
        AnalyticsEvent[] events =
        [
            new("a", "m1", 1, 10, "x"),
            new("b", "m2", 2.25, 20),
            new("c", "m3", -1e300, 30, "id#m3"),
        ];
        var buffer = new ArrayBufferWriter<byte>();

        EventSerializer.WriteNdjson(buffer, events);

        string text = Encoding.UTF8.GetString(buffer.WrittenSpan);
        Assert.Equal(3, text.Count(c => c == '\n'));
        Assert.EndsWith("}\n", text);
        Assert.Equal(events, EventParser.ParseBody(buffer.WrittenSpan, true, Now, Stored).Accepted);

        var fromEnumerable = new ArrayBufferWriter<byte>();
        EventSerializer.WriteNdjson(fromEnumerable, events.AsEnumerable());
        Assert.Equal(text, Encoding.UTF8.GetString(fromEnumerable.WrittenSpan));
    }

    [Fact]
    public void Array_batch_reads_back()
    {
        AnalyticsEvent[] events = [new("a", "m", 1, 10), new("b", "m", 2, 20, "i")];
        var buffer = new ArrayBufferWriter<byte>();

        EventSerializer.WriteArray(buffer, events);

        Assert.Equal(events, EventParser.ParseBody(buffer.WrittenSpan, false, Now, Options).Accepted);
    }

    [Fact]
    public void Expanded_values_events_read_back_with_stored_event_options()
    {
        string id = new('i', 128);
        string metric = new('m', 128);
        AnalyticsEvent e = Assert.Single(Accept(Ev($"\"values\":{{\"{metric}\":1}},\"id\":\"{id}\"")));
        byte[] json = EventSerializer.SerializeToUtf8Bytes(e);

        Assert.Equal(257, e.Id!.Length);
        Assert.Equal(1, EventParser.ParseRecord(json, Now, Options).Rejected); // too long for input rules
        Assert.Equal(e, Assert.Single(EventParser.ParseRecord(json, Now, Stored).Accepted));
    }

    [Fact]
    public void Stored_events_from_the_future_still_read_back()
    {
        var e = new AnalyticsEvent("s", "m", 1, Now + TimeSpan.FromDays(30).Ticks / TimeSpan.TicksPerMillisecond);

        Assert.Equal(e, Assert.Single(EventParser.ParseRecord(EventSerializer.SerializeToUtf8Bytes(e), Now, Stored).Accepted));
    }

    [Fact]
    public void Round_trip_property_for_random_valid_events()
    {
        Prop.ForAll(ValidEvents(), e =>
        {
            byte[] json = EventSerializer.SerializeToUtf8Bytes(e);
            EventParseResult result = EventParser.ParseRecord(json, Now, Stored);
            return result.Rejected == 0
                && result.Accepted.Count == 1
                && result.Accepted[0] == e
                && BitConverter.DoubleToInt64Bits(result.Accepted[0].Value) == BitConverter.DoubleToInt64Bits(e.Value);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Round_trip_property_for_random_ndjson_batches()
    {
        Prop.ForAll(ValidEvents().Generator.NonEmptyListOf().ToArbitrary(), events =>
        {
            var buffer = new ArrayBufferWriter<byte>();
            EventSerializer.WriteNdjson(buffer, events);
            EventParseResult result = EventParser.ParseBody(buffer.WrittenSpan, true, Now, Stored);
            return result.Rejected == 0 && result.Accepted.SequenceEqual(events);
        }).QuickCheckThrowOnFailure();
    }

    private static Arbitrary<AnalyticsEvent> ValidEvents()
    {
        // Pieces rather than single chars so sources cover escapes, multi-byte and surrogate pairs.
        Gen<string> sourcePiece = Gen.Elements("a", "Z", "7", "-", " ", "é", "✓", "😀", "\"", "\\", "/", "<", "\u00a0");
        Gen<string> source = sourcePiece.ListOf().Select(p => string.Concat(p))
            .Where(s => s.Length > 0 && Encoding.UTF8.GetByteCount(s) <= 256);

        Gen<char> metricChar = Gen.Elements("ABCXYZabcxyz0189_.:/-".ToCharArray());
        Gen<string> metric = Gen.Choose(1, 128).SelectMany(n => metricChar.ArrayOf(n)).Select(c => new string(c));

        Gen<double> value = Gen.OneOf(
            ArbMap.Default.GeneratorFor<double>(),
            Gen.Elements(0.0, -0.0, 1e300, -1e300, double.MaxValue, double.MinValue, double.Epsilon, 0.1, 1.0 / 3),
            Gen.Choose(int.MinValue, int.MaxValue).Two().Select(t => BitConverter.Int64BitsToDouble(((long)t.Item1 << 32) | (uint)t.Item2)))
            .Where(double.IsFinite);

        Gen<long> timestamp = Gen.Zip(Gen.Choose(0, 253_402), Gen.Choose(0, 999_999_999))
            .Select(t => t.Item1 * 1_000_000_000L + t.Item2)
            .Where(ms => ms <= TimestampParser.MaxEpochMs);

        Gen<string?> id = Gen.OneOf(
            Gen.Constant<string?>(null),
            sourcePiece.NonEmptyListOf().Select(p => (string?)string.Concat(p)).Where(s => s!.EnumerateRunes().Count() <= 128),
            metric.Select(m => (string?)("dev-7#" + m)));

        return (from s in source
                from m in metric
                from v in value
                from t in timestamp
                from i in id
                select new AnalyticsEvent(s, m, v, t, i)).ToArbitrary();
    }
}
