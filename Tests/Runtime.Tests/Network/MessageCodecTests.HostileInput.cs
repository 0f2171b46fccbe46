using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Messaging.Serialization;
using Analytics.Runtime.Streaming;

namespace Analytics.Runtime.Tests.Network;

/// <summary>Malformed and hostile requests, which must all be refused with a WireFormatException; and pings.</summary>
public sealed partial class MessageCodecTests
{
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
}
