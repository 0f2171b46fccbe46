using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Messaging.Serialization;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Testing;

namespace Analytics.Runtime.Tests.Network;

/// <summary>Building, capturing and decoding calls for the codec tests.</summary>
public sealed partial class MessageCodecTests
{
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
