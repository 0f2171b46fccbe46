using System.Runtime.CompilerServices;
using System.Text;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Messaging.Serialization;
using Analytics.Runtime.Streaming;

namespace Analytics.Runtime.Tests.Network;

/// <summary>Argument and result kinds that the grains of TestGrains.cs do not have; only its generated proxy and invokables are used.</summary>
public interface IWireProbeGrain : IGrainWithStringKey
{
    Task<TimeSpan> Wait(TimeSpan delay, TimeSpan? timeout);

    Task<string?> Describe(int number, long big, double real, string? text, string? nothing, bool flag, Guid id, DateTimeOffset at);

    Task<StreamCheckpointRequest?> Checkpoint(StreamCheckpointRequest? request);

    Task<object?> Boxed(object? value);

    Task<int[]?> Numbers(int[]? values, List<string> names);
}

/// <summary>A remote exception type with a message constructor: the receiver can rebuild it.</summary>
public sealed class QuotaExceededException(string message) : Exception(message);

/// <summary>A remote exception type the receiver knows but cannot make from a message.</summary>
public sealed class CodedException(int code) : Exception($"failed with code {code}")
{
    public int Code { get; } = code;
}

/// <summary>
/// The payload layer of cross-process grain calls: requests (binary header + JSON arguments),
/// responses (status + JSON result or exception) and what a silo does with bytes it cannot read.
/// </summary>
public sealed partial class MessageCodecTests
{
    private const int FixedHeader = 18;

    /// <summary>A Kinesis-like sequence number: 56 decimal digits, far beyond any integer type.</summary>
    private const string KinesisSequence = "49590338271490256608559692538361571095921575989136588898";

    private static readonly ulong AddWireId = Capture<ICounterGrain>(g => g.Add(0)).Method.WireId;
    private static readonly ulong EchoWireId = Capture<ICounterGrain>(g => g.Echo("")).Method.WireId;
    private static readonly ulong GetWireId = Capture<ICounterGrain>(g => g.Get()).Method.WireId;
    private static readonly ulong WaitWireId = Capture<IWireProbeGrain>(g => g.Wait(default, null)).Method.WireId;
    private static readonly ulong BoxedWireId = Capture<IWireProbeGrain>(g => g.Boxed(null)).Method.WireId;
    private static readonly ulong OnNextWireId = Capture<ITallyGrain>(g => g.OnNextAsync(Delivery(1))).Method.WireId;

    // ---------------------------------------------------------------- requests that round-trip

    [Fact]
    public void The_request_layout_is_the_documented_one_byte_for_byte()
    {
        var request = Capture<ICounterGrain>(g => g.Add(-7));
        var encoded = MessageCodec.EncodeRequest(new GrainId("counter", "ключ"), request, 3, 0x0102030405060708);

        var expected = Raw(AddWireId, "[-7]", type: "counter", key: "ключ", hop: 3, generation: 0x0102030405060708);
        Assert.Equal(expected, encoded);
        Assert.Equal(MessageCodec.Version, encoded[0]);
        Assert.Equal(0x0102030405060708, MessageCodec.ReadTargetGeneration(encoded));
    }

    [Fact]
    public async Task Int_and_string_arguments_round_trip_and_reach_the_grain_method_unchanged()
    {
        var text = "Grüße, 世界! 🔑 \"quoted\" \\ back\u0000slash\nline \u2028 é\u0301";
        await AssertRoundTrip<ICounterGrain>(g => g.Add(int.MinValue), "Add", int.MinValue);
        await AssertRoundTrip<ICounterGrain>(g => g.Add(int.MaxValue), "Add", int.MaxValue);
        await AssertRoundTrip<ICounterGrain>(g => g.Fail(text), "Fail", text);
        await AssertRoundTrip<ICounterGrain>(g => g.Fail(""), "Fail", "");
        await AssertRoundTrip<ICounterGrain>(g => g.Fail(null!), "Fail", [null]);
    }

    [Fact]
    public async Task ValueTask_methods_and_methods_without_arguments_round_trip()
    {
        await AssertRoundTrip<ICounterGrain>(g => g.Echo("ValueTask<string> ✓"), "Echo", "ValueTask<string> ✓");
        await AssertRoundTrip<ICounterGrain>(g => g.Echo(null!), "Echo", [null]);
        await AssertRoundTrip<ICounterGrain>(g => g.Touch(), "Touch");
        await AssertRoundTrip<ICounterGrain>(g => g.Get(), "Get");
        await AssertRoundTrip<ICounterGrain>(g => g.Deactivate(), "Deactivate");

        var zeroArgs = MessageCodec.EncodeRequest(new GrainId("counter", "k"), Capture<ICounterGrain>(g => g.Get()), 0, 0);
        Assert.Equal("[]", Encoding.UTF8.GetString(zeroArgs.AsSpan(FixedHeader + 2 + 7 + 4 + 1)));
    }

    [Fact]
    public async Task TimeSpans_numbers_guids_and_dates_round_trip_exactly()
    {
        await AssertRoundTrip<IWireProbeGrain>(g => g.Wait(TimeSpan.FromTicks(123_456_789_012_345), null), "Wait", TimeSpan.FromTicks(123_456_789_012_345), null);
        await AssertRoundTrip<IWireProbeGrain>(g => g.Wait(TimeSpan.MinValue, TimeSpan.MaxValue), "Wait", TimeSpan.MinValue, TimeSpan.MaxValue);
        await AssertRoundTrip<IWireProbeGrain>(g => g.Wait(TimeSpan.FromMilliseconds(-1.5), TimeSpan.Zero), "Wait", TimeSpan.FromMilliseconds(-1.5), TimeSpan.Zero);

        var id = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        var at = new DateTimeOffset(2026, 11, 21, 10, 0, 5, 123, TimeSpan.FromHours(-5)).AddTicks(4567);
        await AssertRoundTrip<IWireProbeGrain>(
            g => g.Describe(-1, long.MinValue, Math.PI, "текст", null, true, id, at),
            "Describe", -1, long.MinValue, Math.PI, "текст", null, true, id, at);
        await AssertRoundTrip<IWireProbeGrain>(
            g => g.Describe(0, long.MaxValue, double.NaN, "", null, false, Guid.Empty, DateTimeOffset.MinValue),
            "Describe", 0, long.MaxValue, double.NaN, "", null, false, Guid.Empty, DateTimeOffset.MinValue);
        await AssertRoundTrip<IWireProbeGrain>(
            g => g.Describe(1, 0, double.NegativeInfinity, null, null, false, id, DateTimeOffset.MaxValue),
            "Describe", 1, 0L, double.NegativeInfinity, null, null, false, id, DateTimeOffset.MaxValue);
        await AssertRoundTrip<IWireProbeGrain>(
            g => g.Describe(1, 0, 4.9e-324, null, null, false, id, at),
            "Describe", 1, 0L, 4.9e-324, null, null, false, id, at);

        var decoded = Decode<IWireProbeGrain>(g => g.Numbers([1, -2, int.MaxValue], ["a", "ü", ""]));
        var recorder = new RecordingGrain();
        await decoded.Request.Invoke(recorder);
        var call = Assert.Single(recorder.Calls);
        Assert.Equal(new[] { 1, -2, int.MaxValue }, Assert.IsType<int[]>(call.Args[0]));
        Assert.Equal(new[] { "a", "ü", "" }, Assert.IsType<List<string>>(call.Args[1]));
    }

    [Fact]
    public async Task Values_declared_as_object_keep_their_runtime_type()
    {
        object?[] values =
        [
            42, 42L, (short)-3, 2.5, 1.25m, "text", true, 'x', Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"),
            new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), TimeSpan.FromSeconds(90),
            new StreamSequenceToken(KinesisSequence, 3), new StreamId("numbers", "ключ"),
            new List<int> { 1, 2, 3 }, null,
        ];
        foreach (var value in values)
        {
            var decoded = Decode<IWireProbeGrain>(g => g.Boxed(value));
            var recorder = new RecordingGrain();
            await decoded.Request.Invoke(recorder);
            var received = Assert.Single(recorder.Calls).Args[0];
            if (value is null)
            {
                Assert.Null(received);
            }
            else
            {
                Assert.NotNull(received);
                Assert.Equal(value.GetType(), received.GetType());
                Assert.Equal(value is List<int> list ? string.Join(",", list) : value, received is List<int> got ? string.Join(",", got) : received);
            }
        }

        var bytes = new byte[] { 0, 1, 2, 254, 255 };
        var memory = await Received<IWireProbeGrain>(g => g.Boxed((ReadOnlyMemory<byte>)bytes));
        Assert.Equal(bytes, Assert.IsType<ReadOnlyMemory<byte>>(memory[0]).ToArray());
    }

    [Fact]
    public async Task A_stream_delivery_with_byte_items_and_Kinesis_tokens_round_trips_field_by_field()
    {
        var payloads = new[]
        {
            Array.Empty<byte>(),
            Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(),
            Encoding.UTF8.GetBytes("\"seven\""),
            Encoding.UTF8.GetBytes("{\"ключ\":\"значение 🔑\"}"),
            new byte[10_000].Select((_, i) => (byte)(i * 31)).ToArray(),
        };
        var tokens = new[]
        {
            new StreamSequenceToken(KinesisSequence),
            new StreamSequenceToken(KinesisSequence, 1),
            new StreamSequenceToken(KinesisSequence, int.MaxValue),
            new StreamSequenceToken("49590338271490256608559692538361571095921575989136588899", 7),
            new StreamSequenceToken("1" + new string('0', 99), 2),
        };
        var delivery = new StreamDelivery
        {
            Queue = "kinesis:shardId-000000000042",
            Namespace = "numbers",
            First = tokens[0],
            Last = tokens[^1],
            Previous = new StreamSequenceToken("49590338271490256608559692538361571095921575989136588897", 12),
            Items = payloads.Select(p => (object)(ReadOnlyMemory<byte>)p).ToList(),
            Tokens = tokens,
        };
        var grainId = new GrainId("tally", "shard/ключ/🔑");

        var request = Capture<ITallyGrain>(g => g.OnNextAsync(delivery), grainId.Key);
        var incoming = MessageCodec.DecodeRequest(MessageCodec.EncodeRequest(grainId, request, 7, 0x7FEE_DDCC_BBAA_9988));

        Assert.Equal(grainId, incoming.GrainId);
        Assert.Equal(7, incoming.HopCount);
        Assert.Equal(0x7FEE_DDCC_BBAA_9988, incoming.TargetGeneration);
        Assert.Equal(request.Method.Key, incoming.Request.Method.Key);
        Assert.Equal(request.GetType(), incoming.Request.GetType());

        var recorder = new RecordingGrain();
        await incoming.Request.Invoke(recorder);
        var received = Assert.IsType<StreamDelivery>(Assert.Single(recorder.Calls).Args[0]);
        Assert.NotSame(delivery, received);
        Assert.Equal(delivery.Queue, received.Queue);
        Assert.Equal(delivery.Namespace, received.Namespace);
        Assert.Equal(KinesisSequence, received.First.Sequence);
        Assert.Equal(0, received.First.SubSequence);
        Assert.Equal(delivery.Last, received.Last);
        Assert.Equal(delivery.Previous, received.Previous);
        Assert.Equal(tokens, received.Tokens!);
        Assert.Equal(int.MaxValue, received.Tokens![2].SubSequence);
        Assert.True(received.Tokens[3] > received.Tokens[2]);
        Assert.Equal(payloads.Length, received.Items.Count);
        for (var i = 0; i < payloads.Length; i++)
        {
            Assert.Equal(payloads[i], Assert.IsType<ReadOnlyMemory<byte>>(received.Items[i]).ToArray());
        }

        // The optional fields stay absent when absent.
        var bare = new StreamDelivery { Queue = "q", Namespace = "n", First = new StreamSequenceToken(5), Last = new StreamSequenceToken(5), Items = [] };
        var bareReceived = Assert.IsType<StreamDelivery>((await Received<ITallyGrain>(g => g.OnNextAsync(bare)))[0]);
        Assert.Null(bareReceived.Previous);
        Assert.Null(bareReceived.Tokens);
        Assert.Empty(bareReceived.Items);
    }

    [Fact]
    public async Task A_checkpoint_request_round_trips()
    {
        var checkpoint = new StreamCheckpointRequest("kinesis:shardId-7", new StreamSequenceToken(KinesisSequence, 4));
        var received = await Received<ITallyGrain>(g => g.OnCheckpointAsync(checkpoint));
        Assert.Equal(checkpoint, received[0]);

        var viaProbe = await Received<IWireProbeGrain>(g => g.Checkpoint(null));
        Assert.Null(viaProbe[0]);
    }

    [Fact]
    public void Unicode_long_and_empty_grain_keys_round_trip_with_hop_count_and_generation()
    {
        // 2,000 × "aé中🔑" = 10,000 UTF-16 chars, 20,000 UTF-8 bytes, no split surrogate pair.
        var longKey = string.Concat(Enumerable.Repeat("aé中🔑", 2000));
        Assert.Equal(10_000, longKey.Length);
        string[] keys = ["", "ключ", "键/値/🔑", "é\u0301 ß ﬁ", "a/b/c", longKey, new string('x', 10_000)];
        long[] generations = [0, 1, -1, long.MaxValue, long.MinValue];
        var request = Capture<ICounterGrain>(g => g.Add(5));
        var n = 0;
        foreach (var key in keys)
        {
            foreach (var type in new[] { "counter", "тип" })
            {
                var generation = generations[n % generations.Length];
                var hop = n++ % 256;
                var incoming = MessageCodec.DecodeRequest(MessageCodec.EncodeRequest(new GrainId(type, key), request, hop, generation));
                Assert.Equal(type, incoming.GrainId.Type);
                Assert.Equal(key, incoming.GrainId.Key);
                Assert.Equal(new GrainId(type, key).StableHash, incoming.GrainId.StableHash);
                Assert.Equal(hop, incoming.HopCount);
                Assert.Equal(generation, incoming.TargetGeneration);
            }
        }
    }

    [Fact]
    public void Hop_counts_beyond_a_byte_are_capped_at_255()
    {
        var request = Capture<ICounterGrain>(g => g.Get());
        Assert.Equal(255, MessageCodec.DecodeRequest(MessageCodec.EncodeRequest(new GrainId("counter", "k"), request, 255, 0)).HopCount);
        Assert.Equal(255, MessageCodec.DecodeRequest(MessageCodec.EncodeRequest(new GrainId("counter", "k"), request, 1000, 0)).HopCount);
    }

}
