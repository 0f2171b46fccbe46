using Orleans.Storage;

namespace Analytics.Grains.Sources;

/// <summary>One segment of a source group's dedup claims, as stored: the claims made since the previous segment.</summary>
public sealed class ClaimSegmentState
{
    public byte[] Claims { get; set; } = [];
}

/// <summary>A segment the group's state lists: its name and the newest arrival in it, by which it expires.</summary>
public sealed record ClaimSegmentRef(string Name, long NewestArrival);

/// <summary>
/// Reads, creates and deletes a source group's claim segments in the group's grain storage, each
/// as a state of its own (state name <c>sources-claims-{name}</c>, the group's grain id).
/// </summary>
/// <remarks>
/// A segment is only ever created, never overwritten: a write that finds its name taken (a
/// segment written before a crash, whose group state never listed it, or one written by another
/// activation) takes a fresh name, and the taken one is deleted only after a write of the group's
/// state succeeds, which proves that this activation is the current one and that the name is an
/// orphan. So a stale activation can never damage a segment the current one listed.
/// </remarks>
internal sealed class ClaimSegmentStore(IGrainStorage storage, GrainId grain)
{
    private const string StatePrefix = "sources-claims-";

    public static string NewName() => Guid.NewGuid().ToString("N")[..16];

    public async Task<byte[]?> ReadAsync(string name)
    {
        var state = new GrainState<ClaimSegmentState>();
        await storage.ReadStateAsync(StatePrefix + name, grain, state);
        return state.RecordExists ? state.State?.Claims ?? [] : null;
    }

    /// <summary>False when a segment of that name exists already; it is left as it is.</summary>
    public async Task<bool> TryCreateAsync(string name, byte[] claims)
    {
        try
        {
            await storage.WriteStateAsync(StatePrefix + name, grain, new GrainState<ClaimSegmentState>(new ClaimSegmentState { Claims = claims }));
            return true;
        }
        catch (InconsistentStateException)
        {
            return false;
        }
    }

    public async Task DeleteAsync(string name)
    {
        var state = new GrainState<ClaimSegmentState>();
        await storage.ReadStateAsync(StatePrefix + name, grain, state);
        if (state.RecordExists)
        {
            await storage.ClearStateAsync(StatePrefix + name, grain, state);
        }
    }
}
