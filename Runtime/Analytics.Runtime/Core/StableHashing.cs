using System.Text;

namespace Analytics.Runtime;

/// <summary>
/// Process-independent hashing. string.GetHashCode is randomised per process, so anything that two
/// silos must agree on (grain placement, queue ownership, stream partitions) hashes with this.
/// 64-bit FNV-1a over UTF-8, finished with a murmur-style mixer to spread the low bits.
/// </summary>
public static class StableHashing
{
    private const ulong OffsetBasis = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    public static ulong Hash(string value) => Mix(Accumulate(OffsetBasis, value));

    public static ulong Hash(string first, string second) => Mix(Accumulate(Accumulate(OffsetBasis, first) ^ 0xFF, second));

    /// <summary>Combines two hashes into one well-mixed value (used by rendezvous hashing).</summary>
    public static ulong Combine(ulong a, ulong b) => Mix(a ^ (b + 0x9E3779B97F4A7C15UL + (a << 6) + (a >> 2)));

    private static ulong Accumulate(ulong hash, string value)
    {
        Span<byte> buffer = stackalloc byte[256];
        var remaining = value.AsSpan();
        while (!remaining.IsEmpty)
        {
            // Encode in chunks so long keys need no heap buffer.
            var take = Math.Min(remaining.Length, 64);
            var written = Encoding.UTF8.GetBytes(remaining[..take], buffer);
            foreach (var b in buffer[..written])
            {
                hash = (hash ^ b) * Prime;
            }

            remaining = remaining[take..];
        }

        return hash;
    }

    private static ulong Mix(ulong h)
    {
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return h;
    }
}
