using System.Diagnostics;

namespace Analytics.Bench;

/// <summary>Warm-up, latency and throughput measurement, and the process counters read around them.</summary>
public static partial class NetworkCallBenchmark
{
    // ---- Measuring ------------------------------------------------------------------------------

    private sealed record Case(string Name, Latency Latency, Throughput? Throughput);

    private static async Task<Case> RunCaseAsync(string name, Func<Task> latencyCall, Func<int, Task>? throughputCall)
    {
        Console.WriteLine($"  {name}");
        await WarmUpAsync(latencyCall, throughputCall);
        var latency = await MeasureLatencyAsync(latencyCall);
        Console.WriteLine($"    latency: p50 {Results.F(latency.P50)} us, p90 {Results.F(latency.P90)} us, p99 {Results.F(latency.P99)} us, mean {Results.F(latency.Mean)} us over {latency.Calls:N0} calls; per call {Results.F(latency.CpuMicrosPerCall)} us CPU, {latency.BytesPerCall:0} B, {Results.F(latency.WorkItemsPerCall, "0.00")} thread-pool work items");
        var throughput = throughputCall is null ? null : await MeasureThroughputAsync(Concurrency, throughputCall);
        return new Case(name, latency, throughput);
    }

    private sealed record Latency(double P50, double P90, double P99, double Mean, int Calls, double CpuMicrosPerCall, double BytesPerCall, double WorkItemsPerCall, long Jitted);

    private sealed record Throughput(double PerSecond, double PerCpuSecond, long Calls, double CpuMicrosPerCall, double BytesPerCall, double WorkItemsPerCall, int Gen0, int Gen1, int Gen2, long Jitted);

    private readonly record struct Counters(long Timestamp, TimeSpan Cpu, long Allocated, long WorkItems, int Gen0, int Gen1, int Gen2, long Jitted)
    {
        public static Counters Now() => new(
            Stopwatch.GetTimestamp(),
            Process.GetCurrentProcess().TotalProcessorTime,
            GC.GetTotalAllocatedBytes(precise: true),
            ThreadPool.CompletedWorkItemCount,
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            System.Runtime.JitInfo.GetCompiledMethodCount());
    }

    /// <summary>
    /// Rounds of both kinds of calls until a round compiles (almost) no method: on a loaded 2-core
    /// machine the JIT's background recompilation of the hot path (tier 1) takes seconds, and
    /// measured alongside it would be charged to the calls.
    /// </summary>
    private static async Task WarmUpAsync(Func<Task> latencyCall, Func<int, Task>? throughputCall)
    {
        var started = Stopwatch.GetTimestamp();
        var compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
        var rounds = 0;
        while (true)
        {
            rounds++;
            if (throughputCall is not null)
            {
                await RunCallersAsync(Concurrency, throughputCall, WarmUpRound);
            }

            var end = Stopwatch.GetTimestamp() + (long)(WarmUpRound.TotalSeconds * Stopwatch.Frequency);
            await Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < end)
                {
                    await latencyCall();
                }
            });
            var now = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (now - compiled <= 2 || Stopwatch.GetElapsedTime(started) > WarmUpLimit)
            {
                Console.WriteLine($"    warm-up: {rounds} rounds, {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s; {now - compiled} methods compiled in the last");
                return;
            }

            compiled = now;
        }
    }

    /// <summary>One call at a time, after the warm-up: up to <see cref="LatencyCalls"/> timed calls (at most <see cref="LatencyCap"/>).</summary>
    private static Task<Latency> MeasureLatencyAsync(Func<Task> call) => Task.Run(async () =>
    {
        var samples = new long[LatencyCalls];
        var before = Counters.Now();
        var deadline = before.Timestamp + (long)(LatencyCap.TotalSeconds * Stopwatch.Frequency);
        var n = 0;
        while (n < samples.Length)
        {
            var start = Stopwatch.GetTimestamp();
            await call();
            var end = Stopwatch.GetTimestamp();
            samples[n++] = end - start;
            if (end > deadline)
            {
                break;
            }
        }

        var after = Counters.Now();
        Array.Sort(samples, 0, n);
        double Micros(long ticks) => ticks * 1e6 / Stopwatch.Frequency;
        double Percentile(double q) => Micros(samples[Math.Clamp((int)Math.Ceiling(q * n) - 1, 0, n - 1)]);
        var latency = new Latency(
            Percentile(0.50),
            Percentile(0.90),
            Percentile(0.99),
            Micros(samples.Take(n).Sum()) / n,
            n,
            (after.Cpu - before.Cpu).TotalMicroseconds / n,
            (after.Allocated - before.Allocated) / (double)n,
            (after.WorkItems - before.WorkItems) / (double)n,
            after.Jitted - before.Jitted);
        return latency;
    });

    /// <summary><paramref name="callers"/> concurrent loops for <paramref name="time"/> (<see cref="ThroughputTime"/>), after the warm-up.</summary>
    private static async Task<Throughput> MeasureThroughputAsync(int callers, Func<int, Task> call, TimeSpan? time = null, bool quiet = false)
    {
        var before = Counters.Now();
        var calls = await RunCallersAsync(callers, call, time ?? ThroughputTime);
        var after = Counters.Now();
        var seconds = Stopwatch.GetElapsedTime(before.Timestamp, after.Timestamp).TotalSeconds;
        var cpu = (after.Cpu - before.Cpu).TotalSeconds;
        var throughput = new Throughput(
            calls / seconds,
            calls / Math.Max(1e-6, cpu),
            calls,
            cpu * 1e6 / calls,
            (after.Allocated - before.Allocated) / (double)calls,
            (after.WorkItems - before.WorkItems) / (double)calls,
            after.Gen0 - before.Gen0,
            after.Gen1 - before.Gen1,
            after.Gen2 - before.Gen2,
            after.Jitted - before.Jitted);
        if (!quiet)
        {
            Console.WriteLine($"    throughput: {Results.Format(throughput.PerSecond, "calls/s")}, {Results.Format(throughput.PerCpuSecond, "calls/CPU-s")}, {throughput.BytesPerCall:0} B/call");
        }

        return throughput;
    }

    /// <summary>
    /// Each loop checks the clock itself: calls that complete at once (the in-process transport)
    /// never give the thread back, so a flag set by a timer would wait for the pool to grow a
    /// thread per loop. The loops yield every 256 calls so that the silos' timers still run.
    /// </summary>
    private static async Task<long> RunCallersAsync(int callers, Func<int, Task> call, TimeSpan time)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(time.TotalSeconds * Stopwatch.Frequency);
        var loops = new Task<long>[callers];
        for (var c = 0; c < callers; c++)
        {
            var caller = c;
            loops[c] = Task.Run(async () =>
            {
                var done = 0L;
                while (Stopwatch.GetTimestamp() < deadline)
                {
                    await call(caller);
                    if ((++done & 255) == 0)
                    {
                        await Task.Yield();
                    }
                }

                return done;
            });
        }

        return (await Task.WhenAll(loops)).Sum();
    }
}
