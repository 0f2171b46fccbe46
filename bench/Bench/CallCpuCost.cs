using System.Diagnostics;

namespace Analytics.Bench;

/// <summary>
/// The local call cases again, timed by this process's CPU time as well as by the wall clock. On
/// a shared machine the wall clock measures how much CPU the benchmark was given as much as the
/// code; calls per CPU-second measure the code (thread-pool threads spinning while they wait for
/// work count too, as they would on an idle machine). On a 2-core machine to itself, wall-clock
/// throughput would lie between 1x (one core) and 2x (both cores) the per-CPU-second figure.
/// Each case runs for <see cref="RunTime"/> after a warm-up (until the JIT is done with it), three times; the median counts.
/// </summary>
public static class CallCpuCost
{
    private static readonly TimeSpan RunTime = TimeSpan.FromMilliseconds(250);

    private sealed record Measurement(double PerSecond, double PerCpuSecond);

    public static async Task RunAsync()
    {
        Console.WriteLine("== Local calls by CPU time (each case 3 times, median) ==");
        var host = await BenchSilo.StartAsync();
        try
        {
            // The silo's own start-up work (membership, the first statistics) goes on for a moment
            // after StartAsync; let it finish before the first case is timed.
            await Task.Delay(2000);
            var factory = host.GrainFactory();
            var plain = new PlainCallTarget();
            var grain = factory.GetGrain<ICallGrain>("cpu-latency");
            await grain.Add(0);

            // One caller: CPU time per call.
            var latency = new (string Name, Func<int, Task<int>> Call)[]
            {
                ("plain object, completes at once", plain.Add),
                ("grain, completes at once", grain.Add),
                ("plain object, body yields", plain.AddAfterYield),
                ("grain, body yields", grain.AddAfterYield),
            };
            var perCall = new Dictionary<string, double>();
            foreach (var (name, call) in latency)
            {
                var m = await MedianAsync(() => SequentialAsync(call));
                perCall[name] = 1e9 / m.PerCpuSecond;
                Console.WriteLine($"  1 caller, {name}: {1e9 / m.PerSecond:0} ns/call wall, {1e9 / m.PerCpuSecond:0} ns CPU/call");
            }

            Results.Add(new ResultRow(
                "local call overhead, CPU",
                "1 caller, body yields: CPU per call",
                $"{Results.F(perCall["grain, body yields"] - perCall["plain object, body yields"], "0")} ns ({Results.F(perCall["grain, body yields"], "0")} ns/call)",
                $"{Results.F(perCall["plain object, body yields"], "0")} ns/call plain",
                Results.Ratio(perCall["grain, body yields"], perCall["plain object, body yields"]),
                "- (old goal < 1000 ns)",
                null));

            // Concurrent callers: calls per CPU-second.
            foreach (var callers in new[] { 4, 64 })
            {
                foreach (var targets in new[] { CallTargets.Distinct, CallTargets.Shared })
                {
                    var grains = Enumerable.Range(0, callers).Select(i => factory.GetGrain<ICallGrain>(targets == CallTargets.Distinct ? $"cpu-{i}" : "cpu-shared")).ToArray();
                    var plains = Enumerable.Range(0, callers).Select(_ => targets == CallTargets.Distinct ? new PlainCallTarget() : plain).ToArray();
                    await Task.WhenAll(grains.Select(g => g.Add(0)));
                    // The same calls made grain to grain: caller grains each loop on their target.
                    var callerGrains = Enumerable.Range(0, callers).Select(i => factory.GetGrain<ICallerGrain>($"cpu-caller-{i}")).ToArray();
                    var targetKeys = Enumerable.Range(0, callers).Select(i => targets == CallTargets.Distinct ? $"cpu-{i}" : "cpu-shared").ToArray();
                    var fromGrains = await MedianAsync(() => GrainToGrainAsync(callerGrains, targetKeys));
                    var plainRef = await MedianAsync(() => ConcurrentAsync(callers, i => plains[i].Add(1)));
                    var fromGrainsLabel = $"{callers} callers, {targets.ToString().ToLowerInvariant()}, grain to grain";
                    Console.WriteLine($"  {fromGrainsLabel}: grains {Results.Format(fromGrains.PerSecond, "calls/s")} wall, {Results.Format(fromGrains.PerCpuSecond, "calls/CPU-s")}; plain {Results.Format(plainRef.PerSecond, "calls/s")} wall, {Results.Format(plainRef.PerCpuSecond, "calls/CPU-s")}");
                    Results.Add(new ResultRow(
                        "local call throughput, CPU",
                        fromGrainsLabel,
                        Results.Format(fromGrains.PerCpuSecond, "calls/CPU-s"),
                        Results.Format(plainRef.PerCpuSecond, "calls/CPU-s") + " plain",
                        Results.Ratio(fromGrains.PerCpuSecond, plainRef.PerCpuSecond),
                        "- (informs the wall-clock rows)",
                        null));
                    foreach (var yields in new[] { false, true })
                    {
                        var g = await MedianAsync(() => ConcurrentAsync(callers, i => yields ? grains[i].AddAfterYield(1) : grains[i].Add(1)));
                        var p = await MedianAsync(() => ConcurrentAsync(callers, i => yields ? plains[i].AddAfterYield(1) : plains[i].Add(1)));
                        var label = $"{callers} callers, {targets.ToString().ToLowerInvariant()}{(yields ? ", body yields" : string.Empty)}";
                        Console.WriteLine($"  {label}: grains {Results.Format(g.PerSecond, "calls/s")} wall, {Results.Format(g.PerCpuSecond, "calls/CPU-s")}; plain {Results.Format(p.PerSecond, "calls/s")} wall, {Results.Format(p.PerCpuSecond, "calls/CPU-s")}");
                        Results.Add(new ResultRow(
                            "local call throughput, CPU",
                            label,
                            Results.Format(g.PerCpuSecond, "calls/CPU-s"),
                            Results.Format(p.PerCpuSecond, "calls/CPU-s") + " plain",
                            Results.Ratio(g.PerCpuSecond, p.PerCpuSecond),
                            "- (informs the wall-clock rows)",
                            null));
                    }
                }
            }
        }
        finally
        {
            await host.StopQuietlyAsync();
        }
    }

    private static async Task<Measurement> MedianAsync(Func<Task<Measurement>> run)
    {
        // Warm-up until a run compiles (almost) nothing: Orleans' call path has many methods, and on
        // a loaded 2-core machine tiered compilation takes seconds to finish with them.
        var warmUp = Stopwatch.StartNew();
        var compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
        do
        {
            await run();
            var now = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (now - compiled <= 2 && warmUp.Elapsed >= TimeSpan.FromSeconds(1))
            {
                break;
            }

            compiled = now;
        }
        while (warmUp.Elapsed < TimeSpan.FromSeconds(4));

        var runs = new List<Measurement>();
        for (var i = 0; i < 3; i++)
        {
            runs.Add(await run());
        }

        return runs.OrderBy(r => r.PerCpuSecond).ElementAt(1);
    }

    private static async Task<Measurement> SequentialAsync(Func<int, Task<int>> call)
    {
        var (wall, cpu) = Start();
        var calls = 0L;
        while (wall.Elapsed < RunTime)
        {
            for (var i = 0; i < 256; i++)
            {
                await call(1);
            }

            calls += 256;
        }

        return Stop(calls, wall, cpu);
    }

    private static async Task<Measurement> ConcurrentAsync(int callers, Func<int, Task<int>> call)
    {
        var (wall, cpu) = Start();
        var counts = await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
        {
            var calls = 0L;
            while (wall.Elapsed < RunTime)
            {
                for (var i = 0; i < 64; i++)
                {
                    await call(c);
                }

                calls += 64;
            }

            return calls;
        })));
        return Stop(counts.Sum(), wall, cpu);
    }

    /// <summary>Each caller grain loops on its target for one <see cref="RunTime"/>-sized slice of calls at a time until the time is up.</summary>
    private static async Task<Measurement> GrainToGrainAsync(ICallerGrain[] callers, string[] targets)
    {
        var (wall, cpu) = Start();
        var counts = await Task.WhenAll(callers.Select((caller, i) => Task.Run(async () =>
        {
            var calls = 0L;
            while (wall.Elapsed < RunTime)
            {
                await caller.CallLoop(targets[i], 256);
                calls += 256;
            }

            return calls;
        })));
        return Stop(counts.Sum(), wall, cpu);
    }

    private static (Stopwatch Wall, TimeSpan Cpu) Start()
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        return (Stopwatch.StartNew(), cpu);
    }

    private static Measurement Stop(long calls, Stopwatch wall, TimeSpan cpu)
    {
        var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        return new Measurement(calls / wall.Elapsed.TotalSeconds, calls / Math.Max(1e-6, cpuUsed.TotalSeconds));
    }
}
