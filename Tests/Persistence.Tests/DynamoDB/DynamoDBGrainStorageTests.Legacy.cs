using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.DynamoDBv2.Model;
using Orleans.Storage;

namespace Analytics.Persistence.Tests;

/// <summary>Heads and chunks as the runtime's DynamoDB storage wrote them: a version V and a write id N, chunk keys c#{N}#{sha256}.</summary>
public sealed partial class DynamoDBGrainStorageTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_state_the_runtimes_storage_wrote_is_read_and_taken_over_by_the_first_write(bool chunked)
    {
        var storage = Create();
        await storage.InitializeAsync(default);
        var legacy = NotesState.Large(chunked ? 300_000 : 1_000);
        var writeId = await PutLegacyStateAsync(JsonSerializer.SerializeToUtf8Bytes(legacy), chunked);

        var read = await ReadAsync(Create());
        Assert.True(read.RecordExists);
        Assert.Equal(writeId, read.ETag);
        Assert.Equal(legacy.Lines, read.State.Lines);

        // A stale writer is refused as for our own heads; the grain's ETag replaces the head.
        var stale = new TestState<NotesState> { ETag = "0123456789abcdef" };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("notes", Grain, stale, default));
        read.State.Lines.Add("written by the Orleans provider");
        await storage.WriteStateAsync("notes", Grain, read, default);

        var head = await HeadItemAsync();
        Assert.Equal(read.ETag, head!["E"].S);
        Assert.False(head.ContainsKey("V") || head.ContainsKey("N"));
        Assert.Equal(read.State.Lines, (await ReadAsync(Create())).State.Lines);

        // The runtime's chunks went with the head that used them, and its orphans with them.
        Assert.DoesNotContain(await RangeKeysAsync(), k => k.StartsWith($"c#{writeId}#", StringComparison.Ordinal));
        Assert.Equal(await ReferencedChunksAsync(), await ChunkKeysAsync());
    }

    [Fact]
    public async Task A_state_the_runtimes_storage_wrote_can_be_cleared_with_its_ETag()
    {
        var storage = Create();
        await storage.InitializeAsync(default);
        var writeId = await PutLegacyStateAsync(JsonSerializer.SerializeToUtf8Bytes(NotesState.Large(300_000)), chunked: true);

        await storage.ClearStateAsync("notes", Grain, new TestState<NotesState> { ETag = writeId }, default);
        Assert.Empty(await RangeKeysAsync());
    }

    /// <summary>Returns the head's write id; a chunked one also gets an orphan chunk of a writer that crashed from it.</summary>
    private async Task<string> PutLegacyStateAsync(byte[] payload, bool chunked)
    {
        var writeId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var head = new Dictionary<string, AttributeValue>
        {
            ["PK"] = new() { S = PartitionKey },
            ["SK"] = new() { S = "head" },
            ["V"] = new() { N = "3" },
            ["N"] = new() { S = writeId },
            ["L"] = new() { N = payload.Length.ToString(CultureInfo.InvariantCulture) },
            ["H"] = new() { S = Convert.ToHexStringLower(SHA256.HashData(payload)) },
        };
        if (!chunked)
        {
            head["D"] = new() { B = new MemoryStream(payload) };
        }
        else
        {
            var keys = new List<string>();
            var previousWriteId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            foreach (var part in new[] { payload[..(payload.Length / 2)], payload[(payload.Length / 2)..] })
            {
                var key = $"c#{previousWriteId}#{Convert.ToHexStringLower(SHA256.HashData(part))}";
                keys.Add(key);
                await PutChunkAsync(key, part);
            }

            await PutChunkAsync($"c#{writeId}#{new string('a', 64)}", [1, 2, 3]);
            head["C"] = new() { L = keys.Select(k => new AttributeValue { S = k }).ToList() };
        }

        await _client.PutItemAsync(new PutItemRequest { TableName = TableName, Item = head });
        return writeId;
    }

    private Task PutChunkAsync(string key, byte[] content) =>
        _client.PutItemAsync(new PutItemRequest
        {
            TableName = TableName,
            Item = new()
            {
                ["PK"] = new() { S = PartitionKey },
                ["SK"] = new() { S = key },
                ["D"] = new() { B = new MemoryStream(content) },
            },
        });
}
