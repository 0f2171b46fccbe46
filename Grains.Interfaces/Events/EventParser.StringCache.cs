using System.Text;

namespace Analytics.Events;

public static partial class EventParser
{
    /// <summary>
    /// A small direct-mapped cache from UTF-8 bytes to strings, alive for one parse call, so that a
    /// batch naming the same few sources and metrics thousands of times allocates each name once.
    /// A collision just replaces the slot, keeping the cost bounded whatever the input.
    /// </summary>
    private sealed class StringCache(int size)
    {
        private readonly string?[] _strings = new string?[size];
        private readonly int[] _hashes = new int[size];

        public string Get(ReadOnlySpan<byte> utf8)
        {
            var hasher = new HashCode();
            hasher.AddBytes(utf8);
            int hash = hasher.ToHashCode();
            int slot = hash & (_strings.Length - 1);
            string? cached = _strings[slot];

            // Only ASCII names compare equal here; others simply miss, which is correct if slower.
            if (cached is not null && _hashes[slot] == hash && Ascii.Equals(utf8, cached))
            {
                return cached;
            }

            cached = Encoding.UTF8.GetString(utf8);
            _strings[slot] = cached;
            _hashes[slot] = hash;
            return cached;
        }
    }
}
