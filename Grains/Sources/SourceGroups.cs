using System.Globalization;
using Analytics.Grains.Sketches;

namespace Analytics.Grains.Sources;

/// <summary>
/// Which <see cref="ISourceGroupGrain"/> holds a source: XXH64 of its name modulo the number of
/// groups (<see cref="AnalyticsOptions.SourceGroups"/>), the same in every process and release.
/// </summary>
/// <remarks>
/// Sources are many and each sends few events, so one grain per source costs a grain call and a
/// state write per handful of events. A group takes all of a page's events for its sources in
/// one call and writes them in one state. Every silo must use the same number of groups: with
/// another number a source maps to another group, which starts empty (replay the stream).
/// </remarks>
public static class SourceGroups
{
    public static int Of(string source, int groups) => (int)(HyperLogLog.Hash(source) % (ulong)groups);

    /// <summary>The grain key of the group that holds <paramref name="source"/>.</summary>
    public static string KeyOf(string source, int groups) => Key(Of(source, groups));

    /// <summary>The grain key of group number <paramref name="group"/>.</summary>
    public static string Key(int group) => group.ToString(CultureInfo.InvariantCulture);
}
