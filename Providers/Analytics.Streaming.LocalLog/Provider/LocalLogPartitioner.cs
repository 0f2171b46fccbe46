using System.Text;

namespace Analytics.Streaming.LocalLog;

/// <summary>
/// Which partition a stream key lands in: a hash that is the same in every process and release
/// (FNV-1a over UTF-8, then a 64-bit finalizer), so that a data folder written before a restart
/// is read with the same mapping after it. It is the mapping of the old runtime's local log.
/// </summary>
public static class LocalLogPartitioner
{
    private const ulong OffsetBasis = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    public static int GetPartition(string streamKey, int partitions) => (int)(Hash(streamKey) % (ulong)partitions);

    public static ulong Hash(string value)
    {
        var hash = OffsetBasis;
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

        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdUL;
        hash ^= hash >> 33;
        hash *= 0xc4ceb9fe1a85ec53UL;
        hash ^= hash >> 33;
        return hash;
    }
}
