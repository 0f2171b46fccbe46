using System.Collections.Immutable;

namespace Analytics.Runtime.Membership;

/// <summary>An immutable snapshot of the cluster as one silo sees it.</summary>
public sealed class MembershipView
{
    public static readonly MembershipView Empty = new(-1, []);

    public MembershipView(int version, IReadOnlyList<MembershipEntry> entries)
    {
        Version = version;
        Entries = entries;
        _statuses = entries.GroupBy(e => e.Silo).ToDictionary(g => g.Key, g => g.Last().Status);
        ActiveSilos = entries.Where(e => e.Status == SiloStatus.Active).Select(e => e.Silo)
            .OrderBy(s => s.ToString(), StringComparer.Ordinal).ToImmutableArray();
    }

    private readonly Dictionary<SiloAddress, SiloStatus> _statuses;

    public int Version { get; }

    public IReadOnlyList<MembershipEntry> Entries { get; }

    /// <summary>The silos that grains and queues are placed on, in a stable order.</summary>
    public ImmutableArray<SiloAddress> ActiveSilos { get; }

    public bool IsActive(SiloAddress silo) => ActiveSilos.Contains(silo);

    /// <summary>A dictionary, because the network transport asks this on every call it sends.</summary>
    public SiloStatus GetStatus(SiloAddress silo) => _statuses.GetValueOrDefault(silo, SiloStatus.None);

    /// <summary>True when the two views place grains the same way.</summary>
    public bool SameActiveSet(MembershipView other) => ActiveSilos.SequenceEqual(other.ActiveSilos);
}

/// <summary>Gives the current membership view and tells subscribers when it changes.</summary>
public interface IMembershipViewProvider
{
    MembershipView Current { get; }

    SiloAddress LocalSilo { get; }

    /// <summary>The callback runs on a background thread after each change; dispose to unsubscribe.</summary>
    IDisposable Subscribe(Action<MembershipView> onChanged);
}
