using Orleans.Runtime;
using Analytics.Grains.Windows;

namespace Analytics.Grains.Metrics;

/// <summary>
/// Reads and writes a metric grain's state: the small state at every flush, and every few minutes
/// (or once many buckets changed) a full snapshot into the other of two slots (see
/// <see cref="MetricState"/> for why).
/// </summary>
/// <remarks>
/// Write order makes every crash point safe. A snapshot goes to the slot the small state does not
/// point at, then the small state is written pointing at it with no changed buckets. Crash before
/// the second write: the small state still names the old snapshot and carries the changes since,
/// so the new snapshot is simply ignored (and overwritten next time). Only after the pointer moved
/// is the old slot cleared, so that activations do not read a stale megabyte blob.
/// </remarks>
internal sealed class MetricStore(
    IPersistentState<MetricState> state,
    IPersistentState<MetricSnapshot> slot0,
    IPersistentState<MetricSnapshot> slot1,
    AnalyticsOptions options,
    TimeProvider timeProvider)
{
    private long _lastSnapshot = timeProvider.GetTimestamp();

    public MetricState State => state.State;

    /// <summary>The generation the small state names but neither slot holds (storage lost it), or null when consistent.</summary>
    public long? MissingSnapshot { get; private set; }

    /// <summary>Builds the model from the loaded states, then lets the loaded copies go (the model holds the buckets now).</summary>
    public MetricModel Load(TierSet tiers)
    {
        var s = state.State;
        var model = new MetricModel(tiers, options.TopKCapacity, new DistinctSources(s.SourceLatest, options.DistinctSourceCapacity))
        {
            Seen = s.Seen,
            Late = s.Late,
        };
        if (s.SnapshotGeneration > 0)
        {
            var slot = Slot(s.SnapshotSlot);
            if (slot.State.Generation == s.SnapshotGeneration)
            {
                model.Load(slot.State.Buckets, changed: false);
            }
            else
            {
                MissingSnapshot = s.SnapshotGeneration;
            }
        }

        model.Load(s.Buckets, changed: true);
        s.Buckets = [];
        slot0.State = new MetricSnapshot();
        slot1.State = new MetricSnapshot();
        return model;
    }

    /// <summary>Seals and prunes the model, then writes the small state, preceded by a snapshot when one is due.</summary>
    public async Task WriteAsync(MetricModel model, long nowMs)
    {
        model.Maintain(nowMs);
        var s = state.State;
        s.Seen = model.Seen;
        s.Late = model.Late;
        s.SourceLatest = model.Sources.Latest;
        var changed = model.ChangedCount;
        var due = changed >= options.CompactionBucketThreshold
            || (changed > 0 && timeProvider.GetElapsedTime(_lastSnapshot) >= options.CompactionInterval);
        if (due)
        {
            await WriteSnapshotAsync(model);
            return;
        }

        s.Buckets = model.ChangedRecords();
        try
        {
            await state.WriteStateAsync();
        }
        finally
        {
            s.Buckets = [];
        }
    }

    private async Task WriteSnapshotAsync(MetricModel model)
    {
        var s = state.State;
        var (previousSlot, previousGeneration) = (s.SnapshotSlot, s.SnapshotGeneration);
        var nextSlot = 1 - previousSlot;
        var target = Slot(nextSlot);
        target.State = new MetricSnapshot { Generation = previousGeneration + 1, Buckets = model.AllRecords() };
        try
        {
            await target.WriteStateAsync();
        }
        finally
        {
            target.State = new MetricSnapshot();
        }

        s.SnapshotGeneration = previousGeneration + 1;
        s.SnapshotSlot = nextSlot;
        s.Buckets = [];
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            // Storage still points at the previous snapshot, and the changed buckets are still marked.
            (s.SnapshotSlot, s.SnapshotGeneration) = (previousSlot, previousGeneration);
            throw;
        }

        model.MarkSnapshotted();
        _lastSnapshot = timeProvider.GetTimestamp();
        MissingSnapshot = null;
        if (previousGeneration > 0)
        {
            // Best effort: a stale slot costs only a slower activation, and the next snapshot overwrites it.
            try
            {
                await Slot(previousSlot).ClearStateAsync();
            }
            catch (Exception)
            {
            }
        }
    }

    private IPersistentState<MetricSnapshot> Slot(int slot) => slot == 0 ? slot0 : slot1;
}
