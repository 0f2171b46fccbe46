using System.Collections.Immutable;
using Analytics.Runtime.Membership;

namespace Analytics.Runtime.Placement;

/// <summary>
/// Rendezvous (highest random weight) hashing: a key belongs to the silo whose combined hash with
/// the key is largest. Every silo with the same view computes the same owner with no shared
/// directory, and when a silo leaves only its own keys move.
/// </summary>
public static class RendezvousHashing
{
    public static SiloAddress? PickOwner(ulong keyHash, ImmutableArray<SiloAddress> silos)
    {
        if (silos.Length == 0)
        {
            return null;
        }

        if (silos.Length == 1)
        {
            return silos[0];
        }

        SiloAddress? best = null;
        var bestWeight = 0UL;
        foreach (var silo in silos)
        {
            var weight = StableHashing.Combine(keyHash, silo.StableHash);
            if (best is null || weight > bestWeight)
            {
                best = silo;
                bestWeight = weight;
            }
        }

        return best;
    }
}

/// <summary>Maps a grain to the silo that should host it, from the current membership view.</summary>
public interface IGrainPlacement
{
    /// <summary>The owner, or null when no silo is active.</summary>
    SiloAddress? GetOwner(GrainId grainId);
}

internal sealed class RendezvousGrainPlacement(IMembershipViewProvider membership) : IGrainPlacement
{
    public SiloAddress? GetOwner(GrainId grainId) => RendezvousHashing.PickOwner(grainId.StableHash, membership.Current.ActiveSilos);
}
