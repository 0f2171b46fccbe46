using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Messaging.Serialization;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Testing;

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
public sealed class MessageCodecTests
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

    // ---------------------------------------------------------------- responses

    [Fact]
    public async Task Results_round_trip_for_typed_void_dictionary_and_delivery_outcome_methods()
    {
        var add = Capture<ICounterGrain>(g => g.Add(1));
        Assert.Equal(-42, await Assert.IsAssignableFrom<Task<int>>(RoundTripResponse(add, Task.FromResult(-42))));

        foreach (var voidRequest in new[] { Capture<ICounterGrain>(g => g.Deactivate()), Capture<ICounterGrain>(g => g.Touch()) })
        {
            var payload = MessageCodec.EncodeResponse(voidRequest, Task.CompletedTask);
            Assert.Equal(0, payload[0]);
            var decoded = MessageCodec.DecodeResponse(voidRequest, payload);
            Assert.True(decoded.IsCompletedSuccessfully);
            await decoded;
        }

        var counts = new Dictionary<string, int> { ["seven"] = 7, ["ключ 🔑"] = -1, [""] = 0, ["\"q\""] = int.MaxValue };
        var countsRequest = Capture<ITallyGrain>(g => g.Counts());
        var decodedCounts = await Assert.IsAssignableFrom<Task<Dictionary<string, int>>>(RoundTripResponse(countsRequest, Task.FromResult(counts)));
        Assert.NotSame(counts, decodedCounts);
        Assert.Equal(counts.OrderBy(p => p.Key, StringComparer.Ordinal), decodedCounts.OrderBy(p => p.Key, StringComparer.Ordinal));

        var dropped = new[] { new StreamSequenceToken(KinesisSequence, 1), new StreamSequenceToken(KinesisSequence, 5), new StreamSequenceToken(3) };
        var outcome = new DeliveryOutcome(DeliveryStatus.ResendAfter, new StreamSequenceToken(KinesisSequence, 9), dropped);
        var onNext = Capture<ITallyGrain>(g => g.OnNextAsync(Delivery(1)));
        var decodedOutcome = await Assert.IsAssignableFrom<Task<DeliveryOutcome>>(RoundTripResponse(onNext, Task.FromResult(outcome)));
        Assert.Equal(DeliveryStatus.ResendAfter, decodedOutcome.Status);
        Assert.Equal(outcome.Watermark, decodedOutcome.Watermark);
        Assert.Equal(dropped, decodedOutcome.Dropped!);

        var plain = await Assert.IsAssignableFrom<Task<DeliveryOutcome>>(RoundTripResponse(onNext, Task.FromResult(new DeliveryOutcome(DeliveryStatus.Gap))));
        Assert.Equal(new DeliveryOutcome(DeliveryStatus.Gap), plain);

        var checkpoint = Capture<ITallyGrain>(g => g.OnCheckpointAsync(new StreamCheckpointRequest("q", new StreamSequenceToken(1))));
        Assert.False(await Assert.IsAssignableFrom<Task<bool>>(RoundTripResponse(checkpoint, Task.FromResult(false))));
        Assert.True(await Assert.IsAssignableFrom<Task<bool>>(RoundTripResponse(checkpoint, Task.FromResult(true))));
    }

    [Fact]
    public async Task Null_results_round_trip_as_null()
    {
        var echo = Capture<ICounterGrain>(g => g.Echo("x"));
        Assert.Null(await Assert.IsAssignableFrom<Task<string>>(RoundTripResponse(echo, Task.FromResult<string>(null!))));
        Assert.Equal("", await Assert.IsAssignableFrom<Task<string>>(RoundTripResponse(echo, Task.FromResult(""))));

        var checkpoint = Capture<IWireProbeGrain>(g => g.Checkpoint(null));
        Assert.Null(await Assert.IsAssignableFrom<Task<StreamCheckpointRequest?>>(RoundTripResponse(checkpoint, Task.FromResult<StreamCheckpointRequest?>(null))));

        var boxed = Capture<IWireProbeGrain>(g => g.Boxed(null));
        Assert.Null(await Assert.IsAssignableFrom<Task<object?>>(RoundTripResponse(boxed, Task.FromResult<object?>(null))));
        Assert.Equal(9_000_000_000L, await Assert.IsAssignableFrom<Task<object?>>(RoundTripResponse(boxed, Task.FromResult<object?>(9_000_000_000L))));

        var numbers = Capture<IWireProbeGrain>(g => g.Numbers(null, []));
        Assert.Null(await Assert.IsAssignableFrom<Task<int[]?>>(RoundTripResponse(numbers, Task.FromResult<int[]?>(null))));
    }

    [Fact]
    public async Task ArgumentException_keeps_type_message_and_the_remote_stack()
    {
        var original = new ArgumentException("amount must be positive", "amount");
        var error = await AssertRebuiltAs<ArgumentException>(original);
        Assert.Contains("amount must be positive", error.Message);
    }

    [Fact]
    public async Task ArgumentOutOfRangeException_keeps_type_and_its_whole_message()
    {
        var original = new ArgumentOutOfRangeException("amount", -5, "must be at least 1");
        var error = await AssertRebuiltAs<ArgumentOutOfRangeException>(original);
        Assert.Contains("must be at least 1", error.Message);
        Assert.Contains("-5", error.Message);
    }

    [Fact]
    public async Task Runtime_and_framework_exceptions_are_rebuilt_as_their_own_types()
    {
        await AssertRebuiltAs<InvalidOperationException>(new InvalidOperationException("not now"));
        await AssertRebuiltAs<SiloUnavailableException>(new SiloUnavailableException("silo 10.0.0.7:11111@3 is shutting down", new IOException("reset")));
        await AssertRebuiltAs<GrainActivationException>(new GrainActivationException("activation of counter/k failed", new InvalidOperationException("boom")));
        await AssertRebuiltAs<InconsistentStateException>(new InconsistentStateException("ETag mismatch: stored 1, current 2", "1", "2"));
        await AssertRebuiltAs<QuotaExceededException>(new QuotaExceededException("over quota: 101/100"));
        await AssertRebuiltAs<KeyNotFoundException>(new KeyNotFoundException("no such metric"));
        await AssertRebuiltAs<Exception>(new Exception("plain"));

        // A void method's exception comes back on its untyped task.
        var deactivate = Capture<ICounterGrain>(g => g.Deactivate());
        var decoded = MessageCodec.DecodeResponse(deactivate, MessageCodec.EncodeResponse(deactivate, Failed(new InvalidOperationException("void failed"))));
        Assert.Equal("void failed", (await Assert.ThrowsAsync<InvalidOperationException>(() => decoded)).Message);
    }

    [Fact]
    public async Task An_exception_type_the_receiver_cannot_rebuild_becomes_a_RemoteRequestException_naming_it()
    {
        // Known here, but without a message constructor.
        var coded = await AssertRemote(Failed(new CodedException(17)), typeof(CodedException).FullName + ", Runtime.Tests", "failed with code 17");
        Assert.Contains(nameof(ThrowInsideGrainMethod), Assert.IsType<string>(coded.Data["RemoteStackTrace"]));

        // Unknown in this process: as a silo of another build would send it.
        var add = Capture<ICounterGrain>(g => g.Add(1));
        var unknown = ExceptionPayload("Contoso.Billing.QuotaException, Contoso.Billing", "over quota ✗", "   at Contoso.Billing.Quota.Check()");
        var error = await Assert.ThrowsAsync<RemoteRequestException>(() => (Task<int>)MessageCodec.DecodeResponse(add, unknown));
        Assert.Equal("Contoso.Billing.QuotaException, Contoso.Billing", error.RemoteType);
        Assert.Equal("over quota ✗", error.Message);
        Assert.Equal("   at Contoso.Billing.Quota.Check()", error.Data["RemoteStackTrace"]);

        // A type that exists but is no exception is not instantiated.
        var notAnException = await Assert.ThrowsAsync<RemoteRequestException>(() => (Task<int>)MessageCodec.DecodeResponse(add, ExceptionPayload("System.String, System.Private.CoreLib", "m", "")));
        Assert.Equal("System.String, System.Private.CoreLib", notAnException.RemoteType);

        // Forwarded again (a gateway relaying it), it keeps naming the original type.
        var relayed = await AssertRemote(Task.FromException(error), "Contoso.Billing.QuotaException, Contoso.Billing", "over quota ✗");
        Assert.IsType<string>(relayed.Data["RemoteStackTrace"]);
    }

    [Fact]
    public async Task Exception_messages_are_bounded_at_16K_characters()
    {
        var add = Capture<ICounterGrain>(g => g.Add(1));
        var original = new InvalidOperationException(new string('m', 20_000) + "END");
        var decoded = MessageCodec.DecodeResponse(add, MessageCodec.EncodeResponse(add, Failed(original)));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => decoded);
        Assert.Equal(16 * 1024, error.Message.Length);
        Assert.StartsWith("mmmm", error.Message);
    }

    [Fact]
    public async Task A_cancelled_method_task_reaches_the_caller_as_an_OperationCanceledException_naming_the_method()
    {
        var add = Capture<ICounterGrain>(g => g.Add(1));
        var payload = MessageCodec.EncodeResponse(add, Task.FromCanceled<int>(new CancellationToken(true)));
        Assert.Equal(1, payload[0]);
        var decoded = MessageCodec.DecodeResponse(add, payload);
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => (Task<int>)decoded);
        Assert.Contains("ICounterGrain.Add", error.Message);
        Assert.Contains("cancelled", error.Message);

        var touch = Capture<ICounterGrain>(g => g.Touch());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => MessageCodec.DecodeResponse(touch, MessageCodec.EncodeResponse(touch, Task.FromCanceled(new CancellationToken(true)))));
    }

    [Fact]
    public async Task A_task_that_failed_with_several_exceptions_reaches_the_caller_with_all_their_messages()
    {
        // A grain method that returns Task.WhenAll(...) directly fails with every inner exception.
        var deactivate = Capture<ICounterGrain>(g => g.Deactivate());
        var both = Task.WhenAll(Failed(new InvalidOperationException("first")), Failed(new ArgumentException("second")));
        Assert.Equal(2, both.Exception!.InnerExceptions.Count);
        var payload = MessageCodec.EncodeResponse(deactivate, both);

        var decoding = Record.Exception(() => { MessageCodec.DecodeResponse(deactivate, payload); });
        Assert.True(decoding is null, $"DecodeResponse threw {decoding?.GetType().FullName} ({decoding?.InnerException?.GetType().FullName}: {decoding?.InnerException?.Message}) instead of returning the failed task");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => MessageCodec.DecodeResponse(deactivate, payload));
        Assert.Contains("first", error.Message);
        Assert.Contains("second", error.Message);
    }

    [Fact]
    public void A_result_that_cannot_be_serialized_is_sent_as_a_NotSupportedException()
    {
        var boxed = Capture<IWireProbeGrain>(g => g.Boxed(null));
        var payload = MessageCodec.EncodeResponse(boxed, Task.FromResult<object?>(new object()));
        Assert.Equal(1, payload[0]);
        var decoded = MessageCodec.DecodeResponse(boxed, payload);
        var error = Assert.IsType<NotSupportedException>(decoded.Exception!.InnerException);
        Assert.Contains("IWireProbeGrain.Boxed", error.Message);
    }

    public static TheoryData<string> HostileResponses => Names(HostileResponseCases.Keys);

    private static readonly Dictionary<string, byte[]> HostileResponseCases = new()
    {
        ["empty"] = [],
        ["unknown status"] = [7, .. "1"u8],
        ["result not an int"] = [0, .. "\"seven\""u8],
        ["result null for an int"] = [0, .. "null"u8],
        ["result missing"] = [0],
        ["result truncated"] = [0, .. "{\"a\":"u8],
        ["exception not an object"] = [1, .. "[1]"u8],
        ["exception truncated"] = [1, .. "{\"type\":"u8],
        ["exception type empty"] = ExceptionPayload("", "m", ""),
        ["exception type with an invalid assembly name"] = ExceptionPayload("System.InvalidOperationException, System.Private.CoreLib, PublicKeyToken=zz", "m", ""),
        ["exception type with too many array dimensions"] = ExceptionPayload("System.Exception[" + new string(',', 40) + "]", "m", ""),
    };

    [Theory]
    [MemberData(nameof(HostileResponses))]
    public async Task A_malformed_response_faults_the_caller_s_task_instead_of_throwing(string name)
    {
        var add = Capture<ICounterGrain>(g => g.Add(1));
        Task decoded;
        try
        {
            decoded = MessageCodec.DecodeResponse(add, HostileResponseCases[name]);
        }
        catch (Exception exception)
        {
            Assert.Fail($"DecodeResponse threw {exception.GetType().FullName} for '{name}' instead of returning a faulted task: {exception.Message}");
            return;
        }

        Assert.True(decoded.IsCompleted);
        await Assert.ThrowsAnyAsync<Exception>(() => decoded);
    }

    // ---------------------------------------------------------------- hostile requests

    public static TheoryData<string> HostileRequests => Names(HostileRequestCases.Keys);

    private static readonly Dictionary<string, (Func<byte[]> Payload, string? MessagePart)> HostileRequestCases = new()
    {
        ["empty"] = (() => [], "shorter than its header"),
        ["one byte"] = (() => [MessageCodec.Version], "shorter than its header"),
        ["fixed header only"] = (() => Valid()[..FixedHeader], "shorter than its header"),
        ["one byte short of the smallest header"] = (() => Valid()[..(FixedHeader + 5)], "shorter than its header"),
        ["version 0"] = (() => WithByte(Valid(), 0, 0), "version 0"),
        ["version 2"] = (() => WithByte(Valid(), 0, 2), "version 2"),
        ["version 255"] = (() => WithByte(Valid(), 0, 255), "version 255"),
        ["unknown method wire id"] = (() => Raw(0xDEADBEEF_0BAD_F00D, "[1]"), "different builds"),
        ["method wire id 0 with a body"] = (() => Raw(0, "[1]"), "different builds"),
        ["grain type length beyond the payload"] = (() => Frame(AddWireId, typeLength: 60_000, type: "counter"u8.ToArray(), keyLength: 1, key: "k"u8.ToArray(), json: "[1]"u8.ToArray()), "truncated"),
        ["grain key length beyond the payload"] = (() => Frame(AddWireId, keyLength: 1000, key: "abc"u8.ToArray(), json: []), "truncated"),
        ["grain key length negative"] = (() => Frame(AddWireId, keyLength: -1, key: [], json: "[1]"u8.ToArray()), "truncated"),
        ["grain key length int.MinValue"] = (() => Frame(AddWireId, keyLength: int.MinValue, key: [], json: "[1]"u8.ToArray()), "truncated"),
        ["grain key length int.MaxValue"] = (() => Frame(AddWireId, keyLength: int.MaxValue, key: "k"u8.ToArray(), json: "[1]"u8.ToArray()), "truncated"),
        ["grain key length int.MaxValue - 2"] = (() => Frame(AddWireId, keyLength: int.MaxValue - 2, key: "k"u8.ToArray(), json: "[1]"u8.ToArray()), "truncated"),
        ["grain key length field cut off"] = (() => Valid()[..(FixedHeader + 2 + 7 + 2)], null),
        ["empty grain type"] = (() => Raw(AddWireId, "[1]", type: ""), null),
        ["no arguments at all"] = (() => Raw(AddWireId, ""), null),
        ["arguments an object"] = (() => Raw(AddWireId, "{\"amount\":1}"), null),
        ["arguments a number"] = (() => Raw(AddWireId, "1"), null),
        ["arguments a string"] = (() => Raw(AddWireId, "\"[1]\""), null),
        ["arguments null"] = (() => Raw(AddWireId, "null"), null),
        ["arguments unterminated"] = (() => Raw(AddWireId, "[1"), null),
        ["arguments not JSON"] = (() => Raw(AddWireId, "[1,,]"), null),
        ["too few arguments"] = (() => Raw(AddWireId, "[]"), "fewer arguments"),
        ["too few arguments for a two-argument method"] = (() => Raw(WaitWireId, "[\"00:00:01\"]"), "fewer arguments"),
        ["too many arguments"] = (() => Raw(AddWireId, "[1,2]"), "more arguments"),
        ["an argument for a method without arguments"] = (() => Raw(GetWireId, "[1]"), "more arguments"),
        ["string for int"] = (() => Raw(AddWireId, "[\"five\"]"), null),
        ["bool for int"] = (() => Raw(AddWireId, "[true]"), null),
        ["null for int"] = (() => Raw(AddWireId, "[null]"), null),
        ["fraction for int"] = (() => Raw(AddWireId, "[1.5]"), null),
        ["int overflow"] = (() => Raw(AddWireId, "[99999999999]"), null),
        ["object for int"] = (() => Raw(AddWireId, "[{}]"), null),
        ["number for string"] = (() => Raw(EchoWireId, "[5]"), null),
        ["invalid UTF-8 in a string"] = (() => Raw(EchoWireId, [(byte)'[', (byte)'"', 0xFF, 0xFE, 0xC3, (byte)'"', (byte)']']), null),
        ["invalid UTF-8 outside strings"] = (() => Raw(EchoWireId, [(byte)'[', 0xFF, (byte)']']), null),
        ["number for TimeSpan"] = (() => Raw(WaitWireId, "[12, null]"), null),
        ["garbage TimeSpan"] = (() => Raw(WaitWireId, "[\"not a time\", null]"), null),
        ["number for delivery"] = (() => Raw(OnNextWireId, "[5]"), null),
        ["delivery without its required fields"] = (() => Raw(OnNextWireId, "[{}]"), null),
        ["token with a leading zero"] = (() => Raw(OnNextWireId, DeliveryJson(first: "\"0123\"")), null),
        ["token not a number"] = (() => Raw(OnNextWireId, DeliveryJson(first: "\"12a\"")), null),
        ["token a JSON number"] = (() => Raw(OnNextWireId, DeliveryJson(first: "12")), null),
        ["token sub-sequence overflow"] = (() => Raw(OnNextWireId, DeliveryJson(first: "\"5.99999999999\"")), null),
        ["token sub-sequence negative"] = (() => Raw(OnNextWireId, DeliveryJson(first: "\"5.-1\"")), null),
        ["token empty"] = (() => Raw(OnNextWireId, DeliveryJson(first: "\"\"")), null),
        ["item not [type, value]"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[5]")), null),
        ["item [type] only"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Int32\"]]")), null),
        ["item [type, value, extra]"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Int32\", 1, 2]]")), "more than [type, value]"),
        ["item naming an unknown type"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"Contoso.Payload, Contoso\", {}]]")), "not known in this process"),
        ["item naming System.Object"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Object\", {}]]")), null),
        ["item naming a delegate type"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Action\", {}]]")), null),
        ["item naming an open generic type"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Collections.Generic.List`1\", []]]")), null),
        ["item naming a ref struct"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Span`1[[System.Byte]]\", \"AA==\"]]")), null),
        ["item naming a pointer type"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Int32*\", 1]]")), null),
        ["item naming System.Type"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Type\", \"System.Int32\"]]")), null),
        ["item naming a generic with a violated constraint"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Nullable`1[[System.String]]\", \"x\"]]")), null),
        ["item naming a type with an invalid assembly name"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Int32, System.Private.CoreLib, Version=x\", 1]]")), null),
        ["item naming an array type with too many dimensions"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Int32[" + new string(',', 40) + "]\", 1]]")), null),
        ["item naming a type whose setter rejects the value"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Net.Cookie, System.Net.Primitives\", {\"Name\":\"$bad\"}]]")), null),
        ["object argument naming an unknown type"] = (() => Raw(BoxedWireId, "[[\"Contoso.Payload, Contoso\", 1]]"), "not known in this process"),
        ["arguments nested 65 deep"] = (() => Raw(AddWireId, new string('[', 65) + "1" + new string(']', 65)), null),
        ["object argument nested beyond 64 deep"] = (() => Raw(BoxedWireId, "[[\"System.Int32" + string.Concat(Enumerable.Repeat("[]", 64)) + ", System.Private.CoreLib\", " + new string('[', 64) + new string(']', 64) + "]]"), null),
        ["object argument nested 100,000 deep"] = (() => Raw(BoxedWireId, "[[\"System.Int32" + string.Concat(Enumerable.Repeat("[]", 64)) + ", System.Private.CoreLib\", " + new string('[', 100_000) + new string(']', 100_000) + "]]"), null),
        ["delivery items nested 70 deep"] = (() => Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Collections.Generic.List`1[[System.Object]]\", " + string.Concat(Enumerable.Repeat("[[\"System.Collections.Generic.List`1[[System.Object]]\", ", 35)) + "[]" + new string(']', 70) + "]]")), null),
    };

    [Theory]
    [MemberData(nameof(HostileRequests))]
    public async Task A_malformed_request_is_refused_with_a_WireFormatException(string name)
    {
        var (payload, messagePart) = HostileRequestCases[name];
        var bytes = payload();
        var error = await Task.Run(() => Record.Exception(() => MessageCodec.DecodeRequest(bytes))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotNull(error);
        Assert.True(error is WireFormatException, $"'{name}' threw {error.GetType().FullName} instead of WireFormatException: {error.Message}");
        if (messagePart is not null)
        {
            Assert.Contains(messagePart, error.Message);
        }
    }

    [Fact]
    public void The_hostile_request_cases_are_otherwise_valid_where_they_reuse_a_valid_shape()
    {
        // Guards the theory above: the shapes it breaks decode when they are not broken.
        Assert.Equal(1, Args(MessageCodec.DecodeRequest(Raw(AddWireId, "[1]")))[0]);
        Assert.Equal("x", Args(MessageCodec.DecodeRequest(Raw(EchoWireId, "[\"x\"]")))[0]);
        Assert.Equal(new StreamSequenceToken(5, 99), Assert.IsType<StreamDelivery>(Args(MessageCodec.DecodeRequest(Raw(OnNextWireId, DeliveryJson(first: "\"5.99\""))))[0]).First);
        var items = Assert.IsType<StreamDelivery>(Args(MessageCodec.DecodeRequest(Raw(OnNextWireId, DeliveryJson(items: "[[\"System.Int32\", 1], null]"))))[0]).Items;
        Assert.Equal<object?>(new object?[] { 1, null }, items);
        // Nesting within the depth limit decodes; a type from outside the core library and the application's assemblies is refused.
        var nested = Args(MessageCodec.DecodeRequest(Raw(BoxedWireId, "[[\"System.Int32[][], System.Private.CoreLib\", [[1,2],[3]]]]")))[0];
        Assert.Equal(new[] { new[] { 1, 2 }, new[] { 3 } }, Assert.IsType<int[][]>(nested));
        Assert.Throws<WireFormatException>(() => MessageCodec.DecodeRequest(Raw(BoxedWireId, "[[\"System.Text.Json.JsonElement, System.Text.Json\", []]]")));
    }

    [Fact]
    public void A_deeply_nested_generic_type_name_is_refused_without_overflowing_the_stack()
    {
        var name = "System.Int32";
        for (var i = 0; i < 10_000; i++)
        {
            name = $"System.Collections.Generic.List`1[[{name}]]";
        }

        var payload = Raw(BoxedWireId, "[[" + JsonSerializer.Serialize(name) + ", 5]]");
        Assert.Throws<WireFormatException>(() => MessageCodec.DecodeRequest(payload));
    }

    [Fact]
    public async Task Random_mutations_of_a_valid_request_either_decode_or_throw_WireFormatException()
    {
        var valid = MessageCodec.EncodeRequest(new GrainId("tally", "shard-ключ"), Capture<ITallyGrain>(g => g.OnNextAsync(Delivery(4))), 2, 99);
        var json = FixedHeader + 2 + "tally".Length + 4 + Encoding.UTF8.GetByteCount("shard-ключ");
        Assert.Equal((byte)'[', valid[json]);
        var random = new Random(20_260_521);
        var structural = "[]{}\",:.-0123456789 tnfeE\\"u8.ToArray();
        var failures = new List<string>();
        int decoded = 0, refused = 0;

        await Task.Run(() =>
        {
            for (var i = 0; i < 2000; i++)
            {
                var (mutated, description) = Mutate(valid, json, random, structural);
                try
                {
                    var incoming = MessageCodec.DecodeRequest(mutated);
                    decoded++;

                    // Whatever decodes can be sent on again, and re-encoding is stable from then on.
                    var again = MessageCodec.EncodeRequest(incoming.GrainId, incoming.Request, incoming.HopCount, incoming.TargetGeneration);
                    var twice = MessageCodec.DecodeRequest(again);
                    var thrice = MessageCodec.EncodeRequest(twice.GrainId, twice.Request, twice.HopCount, twice.TargetGeneration);
                    if (!again.AsSpan().SequenceEqual(thrice))
                    {
                        failures.Add($"#{i} {description}: re-encoding is not stable");
                    }
                }
                catch (WireFormatException)
                {
                    refused++;
                }
                catch (Exception exception)
                {
                    failures.Add($"#{i} {description}: {exception.GetType().FullName}: {exception.Message}");
                }
            }
        }).WaitAsync(TimeSpan.FromSeconds(120));

        var byKind = failures.GroupBy(f => f[(f.IndexOf(": ", StringComparison.Ordinal) + 2)..].Split(':')[0]).Select(g => $"{g.Count()} × {g.Key}");
        Assert.True(failures.Count == 0, $"{failures.Count} of 2000 mutations neither decoded nor threw WireFormatException ({string.Join(", ", byKind)}):\n{string.Join("\n", failures.Take(10))}");
        Assert.True(decoded > 50, $"only {decoded} mutations decoded");
        Assert.True(refused > 500, $"only {refused} mutations were refused");
    }

    // ---------------------------------------------------------------- pings

    [Fact]
    public void A_ping_round_trips_its_generation_and_is_not_a_request()
    {
        foreach (var generation in new[] { 0L, 1L, 42L, -1L, long.MaxValue, long.MinValue })
        {
            var ping = MessageCodec.EncodePing(generation);
            Assert.True(MessageCodec.IsPing(ping, out var read));
            Assert.Equal(generation, read);
            Assert.Equal(generation, MessageCodec.ReadTargetGeneration(ping));
            Assert.IsType<WireFormatException>(Record.Exception(() => MessageCodec.DecodeRequest(ping)));
        }

        Assert.False(MessageCodec.IsPing(MessageCodec.EncodePing(5)[..^1], out _));
        Assert.False(MessageCodec.IsPing(WithByte(MessageCodec.EncodePing(5), 0, 2), out _));
        Assert.False(MessageCodec.IsPing([], out var none));
        Assert.Equal(0, none);
    }

    [Fact]
    public void A_normal_request_is_not_a_ping_even_without_arguments_or_key()
    {
        var get = MessageCodec.EncodeRequest(new GrainId("counter", ""), Capture<ICounterGrain>(g => g.Get()), 0, 77);
        Assert.False(MessageCodec.IsPing(get, out var generation));
        Assert.Equal(0, generation);
        Assert.Equal(77, MessageCodec.ReadTargetGeneration(get));

        // Even cut to the ping's length, a request's method id tells it apart.
        Assert.False(MessageCodec.IsPing(get[..FixedHeader], out _));
    }

    // ---------------------------------------------------------------- helpers

    private static TheoryData<string> Names(IEnumerable<string> names)
    {
        var data = new TheoryData<string>();
        foreach (var name in names)
        {
            data.Add(name);
        }

        return data;
    }

    /// <summary>The request a proxy hands its invoker, caught before it goes anywhere.</summary>
    private static GrainInvokable Capture<TGrain>(Action<TGrain> call, string key = "k")
        where TGrain : IGrainWithStringKey
    {
        var invoker = new CapturingGrainCallInvoker();
        call(invoker.References.GetGrain<TGrain>(key));
        return Assert.Single(invoker.Calls).Request;
    }

    private static IncomingRequest Decode<TGrain>(Action<TGrain> call)
        where TGrain : IGrainWithStringKey
    {
        var request = Capture(call);
        var grainId = new GrainId(GrainTypeNames.ForInterface(typeof(TGrain)), "k");
        var incoming = MessageCodec.DecodeRequest(MessageCodec.EncodeRequest(grainId, request, 1, 2));
        Assert.Equal(grainId, incoming.GrainId);
        Assert.Equal(request.Method.WireId, incoming.Request.Method.WireId);
        Assert.NotSame(request, incoming.Request);
        return incoming;
    }

    /// <summary>The arguments the grain method receives when the decoded request runs on a grain.</summary>
    private static async Task<object?[]> Received<TGrain>(Action<TGrain> call)
        where TGrain : IGrainWithStringKey
    {
        var recorder = new RecordingGrain();
        await Decode(call).Request.Invoke(recorder);
        return Assert.Single(recorder.Calls).Args;
    }

    private static async Task AssertRoundTrip<TGrain>(Action<TGrain> call, string method, params object?[] expected)
        where TGrain : IGrainWithStringKey
    {
        var recorder = new RecordingGrain();
        await Decode(call).Request.Invoke(recorder);
        var (name, args) = Assert.Single(recorder.Calls);
        Assert.Equal(method, name);
        Assert.Equal(expected, args);
    }

    private static object?[] Args(IncomingRequest incoming)
    {
        var recorder = new RecordingGrain();
        incoming.Request.Invoke(recorder).GetAwaiter().GetResult();
        return Assert.Single(recorder.Calls).Args;
    }

    private static Task RoundTripResponse(GrainInvokable request, Task completed) =>
        MessageCodec.DecodeResponse(request, MessageCodec.EncodeResponse(request, completed));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInsideGrainMethod(Exception exception) => throw exception;

    /// <summary>A faulted task whose exception was really thrown, so it has a stack trace.</summary>
    private static Task Failed(Exception exception)
    {
        try
        {
            ThrowInsideGrainMethod(exception);
        }
        catch (Exception thrown)
        {
            return Task.FromException(thrown);
        }

        throw new InvalidOperationException("unreachable");
    }

    private static async Task<TException> AssertRebuiltAs<TException>(Exception original)
        where TException : Exception
    {
        var add = Capture<ICounterGrain>(g => g.Add(1));
        var payload = MessageCodec.EncodeResponse(add, Failed(original));
        Assert.Equal(1, payload[0]);
        var decoded = MessageCodec.DecodeResponse(add, payload);
        var typed = Assert.IsAssignableFrom<Task<int>>(decoded);
        var error = await Assert.ThrowsAsync<TException>(() => typed);
        Assert.NotSame(original, error);
        Assert.Equal(original.Message, error.Message);
        var stack = Assert.IsType<string>(error.Data["RemoteStackTrace"]);
        Assert.Equal("RemoteStackTrace", RemoteExceptions.RemoteStackTraceKey);
        Assert.Contains(nameof(ThrowInsideGrainMethod), stack);
        Assert.Equal(original.StackTrace, stack);
        return error;
    }

    private static async Task<RemoteRequestException> AssertRemote(Task failed, string remoteType, string message)
    {
        var add = Capture<ICounterGrain>(g => g.Add(1));
        var decoded = MessageCodec.DecodeResponse(add, MessageCodec.EncodeResponse(add, failed));
        var error = await Assert.ThrowsAsync<RemoteRequestException>(() => (Task<int>)decoded);
        Assert.Equal(remoteType, error.RemoteType);
        Assert.Equal(message, error.Message);
        Assert.Contains(remoteType, error.ToString());
        return error;
    }

    private static byte[] ExceptionPayload(string type, string message, string stack)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["type"] = type, ["message"] = message, ["stack"] = stack });
        return [1, .. json];
    }

    private static StreamDelivery Delivery(int items) => new()
    {
        Queue = "kinesis:shardId-000000000001",
        Namespace = "numbers",
        First = new StreamSequenceToken(KinesisSequence),
        Last = new StreamSequenceToken(KinesisSequence, items - 1),
        Previous = new StreamSequenceToken("49590338271490256608559692538361571095921575989136588897", 2),
        Items = Enumerable.Range(0, items).Select(i => (object)(ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"\"v{i}\"")).ToList(),
        Tokens = Enumerable.Range(0, items).Select(i => new StreamSequenceToken(KinesisSequence, i)).ToList(),
    };

    private static string DeliveryJson(string first = "\"5\"", string items = "[]") =>
        $$"""[{"Queue":"q","Namespace":"n","First":{{first}},"Last":"6","Previous":null,"Items":{{items}},"Tokens":null}]""";

    private static byte[] Valid() => Raw(AddWireId, "[1]");

    private static byte[] WithByte(byte[] payload, int index, byte value)
    {
        var copy = payload.ToArray();
        copy[index] = value;
        return copy;
    }

    private static byte[] Raw(ulong wireId, string json, string type = "counter", string key = "k", byte version = MessageCodec.Version, byte hop = 0, long generation = 0) =>
        Raw(wireId, Encoding.UTF8.GetBytes(json), type, key, version, hop, generation);

    private static byte[] Raw(ulong wireId, byte[] json, string type = "counter", string key = "k", byte version = MessageCodec.Version, byte hop = 0, long generation = 0)
    {
        var typeBytes = Encoding.UTF8.GetBytes(type);
        var keyBytes = Encoding.UTF8.GetBytes(key);
        return Frame(wireId, typeBytes.Length, typeBytes, keyBytes.Length, keyBytes, json, version, hop, generation);
    }

    /// <summary>Writes the documented request layout by hand, with lengths that need not match the data.</summary>
    private static byte[] Frame(
        ulong wireId, int? typeLength = null, byte[]? type = null, int keyLength = 1, byte[]? key = null, byte[]? json = null,
        byte version = MessageCodec.Version, byte hop = 0, long generation = 0)
    {
        type ??= "counter"u8.ToArray();
        key ??= "k"u8.ToArray();
        json ??= [];
        var buffer = new byte[FixedHeader + 2 + type.Length + 4 + key.Length + json.Length];
        buffer[0] = version;
        buffer[1] = hop;
        BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(2), generation);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer.AsSpan(10), wireId);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(FixedHeader), (ushort)(typeLength ?? type.Length));
        type.CopyTo(buffer, FixedHeader + 2);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(FixedHeader + 2 + type.Length), keyLength);
        key.CopyTo(buffer, FixedHeader + 6 + type.Length);
        json.CopyTo(buffer, FixedHeader + 6 + type.Length + key.Length);
        return buffer;
    }

    private static (byte[] Payload, string Description) Mutate(byte[] valid, int jsonStart, Random random, byte[] structural)
    {
        var bytes = valid.ToList();
        switch (random.Next(7))
        {
            case 0:
                {
                    var length = random.Next(valid.Length);
                    return (valid[..length], $"truncated to {length}");
                }

            case 1:
                {
                    var at = random.Next(valid.Length);
                    var value = (byte)random.Next(256);
                    bytes[at] = value;
                    return (bytes.ToArray(), $"byte {at} = {value}");
                }

            case 2:
                {
                    var at = random.Next(valid.Length);
                    var bit = random.Next(8);
                    bytes[at] ^= (byte)(1 << bit);
                    return (bytes.ToArray(), $"bit {bit} of byte {at} flipped");
                }

            case 3:
                {
                    var at = random.Next(jsonStart, valid.Length);
                    var value = structural[random.Next(structural.Length)];
                    bytes[at] = value;
                    return (bytes.ToArray(), $"JSON byte {at} = '{(char)value}'");
                }

            case 4:
                {
                    var at = random.Next(jsonStart, valid.Length + 1);
                    var value = structural[random.Next(structural.Length)];
                    bytes.Insert(at, value);
                    return (bytes.ToArray(), $"'{(char)value}' inserted at {at}");
                }

            case 5:
                {
                    var at = random.Next(valid.Length);
                    var count = Math.Min(random.Next(1, 16), valid.Length - at);
                    bytes.RemoveRange(at, count);
                    return (bytes.ToArray(), $"{count} bytes removed at {at}");
                }

            default:
                {
                    var description = new StringBuilder("bytes");
                    for (var n = random.Next(2, 6); n > 0; n--)
                    {
                        var at = random.Next(valid.Length);
                        var value = (byte)random.Next(256);
                        bytes[at] = value;
                        description.Append($" {at}={value}");
                    }

                    return (bytes.ToArray(), description.ToString());
                }
        }
    }

    /// <summary>Stands in for a grain: records which method a decoded request calls, with which arguments.</summary>
    private sealed class RecordingGrain : ICounterGrain, ITallyGrain, IWireProbeGrain
    {
        public List<(string Method, object?[] Args)> Calls { get; } = [];

        public Task<int> Add(int amount) => Record(0, nameof(Add), amount);

        public Task<int> Get() => Record(0, nameof(Get));

        public Task Fail(string message) => Record(0, nameof(Fail), message);

        public Task<string> WhereAmI() => Record("", nameof(WhereAmI));

        public Task<int> ActivationNumber() => Record(0, nameof(ActivationNumber));

        public Task Deactivate() => Record(0, nameof(Deactivate));

        public ValueTask<string> Echo(string text) => new(Record(text, nameof(Echo), text));

        public ValueTask Touch() => new(Record(0, nameof(Touch)));

        public Task<Dictionary<string, int>> Counts() => Record(new Dictionary<string, int>(), nameof(Counts));

        public Task<DeliveryOutcome> OnNextAsync(StreamDelivery delivery) => Record(new DeliveryOutcome(DeliveryStatus.Applied), nameof(OnNextAsync), delivery);

        public Task<bool> OnCheckpointAsync(StreamCheckpointRequest request) => Record(true, nameof(OnCheckpointAsync), request);

        public Task<TimeSpan> Wait(TimeSpan delay, TimeSpan? timeout) => Record(delay, nameof(Wait), delay, timeout);

        public Task<string?> Describe(int number, long big, double real, string? text, string? nothing, bool flag, Guid id, DateTimeOffset at) =>
            Record(text, nameof(Describe), number, big, real, text, nothing, flag, id, at);

        public Task<StreamCheckpointRequest?> Checkpoint(StreamCheckpointRequest? request) => Record(request, nameof(Checkpoint), request);

        public Task<object?> Boxed(object? value) => Record(value, nameof(Boxed), value);

        public Task<int[]?> Numbers(int[]? values, List<string> names) => Record(values, nameof(Numbers), values, names);

        private Task<T> Record<T>(T result, string method, params object?[] args)
        {
            Calls.Add((method, args));
            return Task.FromResult(result);
        }
    }
}
