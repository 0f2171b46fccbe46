using System.Security.Cryptography;
using Analytics.Aws.DynamoDB;

namespace Analytics.Persistence.Tests;

/// <summary>The chunker alone: no emulator needed.</summary>
public sealed class ContentDefinedChunkerTests
{
    private readonly ContentDefinedChunker _chunker = new(16 * 1024, 64 * 1024, 300 * 1024);

    [Fact]
    public void Boundaries_are_deterministic_cover_the_input_and_respect_min_and_max()
    {
        var data = RandomBytes(3_000_000, seed: 1);
        var chunks = _chunker.Split(data);
        Assert.Equal(chunks, new ContentDefinedChunker(16 * 1024, 64 * 1024, 300 * 1024).Split(data));
        Assert.Equal(data.Length, chunks.Sum(c => c.Length));
        Assert.All(chunks.Zip(chunks.Skip(1)), pair => Assert.Equal(pair.First.Offset + pair.First.Length, pair.Second.Offset));
        Assert.All(chunks.SkipLast(1), c => Assert.InRange(c.Length, 16 * 1024, 300 * 1024));
        var average = data.Length / chunks.Count;
        Assert.InRange(average, 40 * 1024, 110 * 1024);
    }

    [Fact]
    public void Input_without_boundaries_is_cut_at_max_and_short_input_is_one_chunk()
    {
        Assert.All(_chunker.Split(new byte[1_000_000]).SkipLast(1), c => Assert.Equal(300 * 1024, c.Length));
        Assert.Equal([(0, 10_000)], _chunker.Split(new byte[10_000]));
        Assert.Empty(_chunker.Split([]));
    }

    [Fact]
    public void An_insertion_in_the_middle_changes_only_the_chunks_near_it()
    {
        var data = RandomBytes(2_000_000, seed: 2);
        var edited = data[..1_000_000].Concat(RandomBytes(100, seed: 3)).Concat(data[1_000_000..]).ToArray();
        var before = Hashes(data);
        var after = Hashes(edited);
        Assert.InRange(after.Except(before).Count(), 1, 2);
        Assert.InRange(before.Except(after).Count(), 1, 2);
    }

    private HashSet<string> Hashes(byte[] data) =>
        _chunker.Split(data).Select(c => Convert.ToHexString(SHA256.HashData(data.AsSpan(c.Offset, c.Length)))).ToHashSet();

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
