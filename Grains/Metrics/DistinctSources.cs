namespace Analytics.Grains.Metrics;

/// <summary>
/// The latest event time of every source of a metric, so that the distinct sources of any window
/// ending now are exactly the sources whose latest event is at or after the window's start.
/// </summary>
/// <remarks>
/// Exact, rather than a HyperLogLog per bucket: one entry per source (~60 bytes) is far smaller
/// than a dense HyperLogLog (12 KB) per bucket times thousands of buckets, and exact beats "within
/// 2%". The map is bounded by <see cref="Capacity"/>: beyond it the sources with the oldest latest
/// event are forgotten, so a window is exact while at most Capacity sources were active in it (and
/// undercounts above that). Entries older than the longest retention are dropped, since no window
/// can reach them.
/// </remarks>
internal sealed class DistinctSources(Dictionary<string, long> latest, int capacity)
{
    public Dictionary<string, long> Latest { get; } = latest;

    public int Capacity { get; } = capacity;

    /// <summary>True once a source was forgotten for lack of room.</summary>
    public bool Saturated { get; private set; }

    public void Observe(string source, long timestampMs)
    {
        if (!Latest.TryGetValue(source, out var current) || timestampMs > current)
        {
            Latest[source] = timestampMs;
        }
    }

    public long CountSince(long fromMs)
    {
        long count = 0;
        foreach (var time in Latest.Values)
        {
            if (time >= fromMs)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>Drops sources no window can reach, then the least recent beyond the capacity. Returns how many went.</summary>
    public int Prune(long olderThanMs)
    {
        var before = Latest.Count;
        foreach (var (source, time) in Latest)
        {
            if (time < olderThanMs)
            {
                // Removing while enumerating a Dictionary is allowed since .NET Core 3.0.
                Latest.Remove(source);
            }
        }

        if (Latest.Count > Capacity)
        {
            var times = Latest.Values.ToArray();
            Array.Sort(times);
            // Keep the newest Capacity; ties at the cut go too, so the map never exceeds the capacity.
            var cut = times[Latest.Count - Capacity - 1];
            foreach (var (source, time) in Latest)
            {
                if (time <= cut)
                {
                    Latest.Remove(source);
                }
            }

            Saturated = true;
        }

        return before - Latest.Count;
    }
}
