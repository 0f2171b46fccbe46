namespace Analytics.Silo.Api;

/// <summary>
/// The process's own runtime figures since it started, for <c>/api/cluster/self</c>: CPU time,
/// bytes allocated, collections per generation, the time the GC held the process paused, and the
/// thread pool's backlog.
/// </summary>
/// <remarks>
/// Under load, requests that arrive while the GC has the process paused wait in the socket before
/// the API sees them, so their wait shows in no server-side timing: only these pause figures
/// explain a client's latency tail. Sampled twice, they give rates (allocated bytes per event, pause
/// share of wall time) that move far less with how busy the machine is than throughput does.
/// </remarks>
/// <param name="CpuSeconds">User and system CPU time of the process.</param>
/// <param name="AllocatedBytes">Bytes allocated by all threads (<see cref="GC.GetTotalAllocatedBytes"/>).</param>
/// <param name="GcPauseMs">Total time the GC has paused the process (<see cref="GC.GetTotalPauseDuration"/>).</param>
/// <param name="LastGcPauseMs">The pause of the most recent collection.</param>
/// <param name="HeapBytes">The managed heap's size after the most recent collection.</param>
/// <param name="ThreadPoolQueue">Work items waiting for a thread pool thread now.</param>
public sealed record RuntimeFigures(
    double CpuSeconds,
    long AllocatedBytes,
    int Gen0Collections,
    int Gen1Collections,
    int Gen2Collections,
    double GcPauseMs,
    double LastGcPauseMs,
    long HeapBytes,
    long ThreadPoolQueue,
    int ThreadPoolThreads,
    bool ServerGc)
{
    public static RuntimeFigures Read()
    {
        var last = GC.GetGCMemoryInfo(GCKind.Any);
        return new RuntimeFigures(
            Environment.CpuUsage.TotalTime.TotalSeconds,
            GC.GetTotalAllocatedBytes(precise: false),
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            GC.GetTotalPauseDuration().TotalMilliseconds,
            last.PauseDurations.Length > 0 ? last.PauseDurations[0].TotalMilliseconds : 0,
            last.HeapSizeBytes,
            ThreadPool.PendingWorkItemCount,
            ThreadPool.ThreadCount,
            System.Runtime.GCSettings.IsServerGC);
    }
}
