using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Messaging.Serialization;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;

namespace Analytics.Runtime.Tests.Network;

/// <summary>Responses: results, rebuilt exceptions, and malformed responses that must fault the caller's task.</summary>
public sealed partial class MessageCodecTests
{
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
}
