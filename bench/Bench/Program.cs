using System.Diagnostics;
using Analytics.Bench;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// Benchmarks of Orleans 10.4.2 as the service uses it (issue 11).
// Usage: dotnet run -c Release --project bench/Bench -- [runtime|calls|memory|network] [--activations N] [--cpu-only]
//   runtime   calls and memory (the default)
//   calls     local call latency and throughput (BenchmarkDotNet), then the same cases by CPU time
//             (--cpu-only: the CPU-time pass alone, in a few seconds)
//   memory    bytes per idle activation
//   network   cross-silo calls between two silos on loopback TCP against a raw TCP echo (not part of runtime; about 1 minute)
// Delivery from the local log (the old "delivery" part) is gone: no goal of issue 11 asks for it,
// and the local-log provider is now tested on Orleans by Tests/Streaming.Tests.
string[] valueOptions = ["--activations"];
var filter = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || !valueOptions.Contains(args[i - 1])))
    .FirstOrDefault()?.ToLowerInvariant() ?? "runtime";
if (filter is not ("runtime" or "calls" or "memory" or "network"))
{
    Console.Error.WriteLine($"Unknown benchmark filter '{filter}'. Use runtime, calls, memory or network.");
    return 2;
}

int Option(string name, int fallback)
{
    var index = Array.IndexOf(args, "--" + name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
}

#if DEBUG
Console.Error.WriteLine("Warning: a Debug build; run with -c Release for meaningful figures.");
#endif

Console.WriteLine($"Orleans benchmarks '{filter}' on {Environment.ProcessorCount} logical cores, .NET {Environment.Version}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
Console.WriteLine($"GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}, {(System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.Batch ? "non-concurrent" : "concurrent")}");
// The benchmark machines are shared: say how busy this one was, at the start and at the end.
static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
var loadAtStart = LoadAverage();
Console.WriteLine($"load average (1, 5, 15 min) at start: {loadAtStart}");
var total = Stopwatch.StartNew();

if (filter is "runtime" or "calls" && !args.Contains("--cpu-only"))
{
    // In-process, short job: the machines are small and shared, and the benchmark grains need no
    // separate build. Three warm-up and three measured iterations of 250 ms per case (half BDN's
    // default), so that the whole part stays within a few minutes: every case starts its own silo.
    var job = Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250)).WithId("ShortRun-InProcess");
    var config = ManualConfig.CreateMinimumViable()
        .AddJob(job)
        .AddDiagnoser(MemoryDiagnoser.Default)
        .WithArtifactsPath(Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts"))
        .WithOptions(ConfigOptions.JoinSummary);
    var latency = BenchmarkRunner.Run<LocalCallLatency>(config);
    ReportLatency(latency);
    var throughput = BenchmarkRunner.Run<LocalCallThroughput>(config);
    ReportThroughput(throughput);
}

if (filter is "runtime" or "calls")
{
    await CallCpuCost.RunAsync();
}

if (filter is "runtime" or "memory")
{
    await ActivationMemory.RunAsync(Option("activations", 100_000));
}

if (filter is "network")
{
    await NetworkCallBenchmark.RunAsync();
}

Results.Note($"load average (1, 5, 15 min) at start {loadAtStart}, at end {LoadAverage()}, on {Environment.ProcessorCount} cores");
Results.Note($"whole run: {total.Elapsed.TotalSeconds:0} s; command: dotnet run -c Release --project bench/Bench -- {string.Join(' ', args.DefaultIfEmpty("runtime"))}");
Results.Print(Console.Out);
return 0;

static double MeanNs(Summary summary, string method, Func<BenchmarkReport, bool>? where = null)
{
    var report = summary.Reports.FirstOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method && (where is null || where(r)))
        ?? throw new InvalidOperationException($"No result for {method}: did the benchmark fail? See the BenchmarkDotNet output above.");
    return report.ResultStatistics?.Mean ?? throw new InvalidOperationException($"{method} produced no statistics.");
}

static double? AllocatedBytes(Summary summary, string method, Func<BenchmarkReport, bool>? where = null)
{
    var report = summary.Reports.FirstOrDefault(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == method && (where is null || where(r)));
    return report?.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) is { } bytes ? bytes : null;
}

static void ReportLatency(Summary summary)
{
    var plain = MeanNs(summary, nameof(LocalCallLatency.Plain));
    var grain = MeanNs(summary, nameof(LocalCallLatency.Grain));
    var withGetGrain = MeanNs(summary, nameof(LocalCallLatency.GrainWithGetGrain));
    var allocated = AllocatedBytes(summary, nameof(LocalCallLatency.Grain));
    var plainYield = MeanNs(summary, nameof(LocalCallLatency.PlainAfterYield));
    var grainYield = MeanNs(summary, nameof(LocalCallLatency.GrainAfterYield));
    Results.Add(new ResultRow(
        "local call overhead",
        "1 caller, grain call - plain await",
        $"{Results.F(grain - plain)} ns ({Results.F(grain)} ns/call)",
        $"{Results.F(plain)} ns/call plain",
        Results.Ratio(grain, plain),
        "- (old goal < 1000 ns)",
        null));
    Results.Add(new ResultRow(
        "local call overhead",
        "same, GetGrain per call",
        $"{Results.F(withGetGrain - plain)} ns ({Results.F(withGetGrain)} ns/call)",
        $"{Results.F(plain)} ns/call plain",
        Results.Ratio(withGetGrain, plain),
        "- (old goal < 1000 ns)",
        null));
    Results.Add(new ResultRow(
        "local call overhead",
        "body yields (await Task.Yield)",
        $"{Results.F(grainYield - plainYield)} ns ({Results.F(grainYield)} ns/call)",
        $"{Results.F(plainYield)} ns/call plain",
        Results.Ratio(grainYield, plainYield),
        "- (old goal < 1000 ns)",
        null));
    if (allocated is { } bytes)
    {
        Results.Note($"a local grain call allocates {bytes:0} B (BenchmarkDotNet MemoryDiagnoser), the plain await {AllocatedBytes(summary, nameof(LocalCallLatency.Plain)) ?? 0:0} B; body yields: {AllocatedBytes(summary, nameof(LocalCallLatency.GrainAfterYield)) ?? 0:0} B vs {AllocatedBytes(summary, nameof(LocalCallLatency.PlainAfterYield)) ?? 0:0} B");
    }
}

static void ReportThroughput(Summary summary)
{
    foreach (var callers in new[] { 4, 64 })
    {
        foreach (var targets in new[] { CallTargets.Distinct, CallTargets.Shared })
        {
            bool Case(BenchmarkReport r) => r.BenchmarkCase.Parameters["Callers"] is int c && c == callers && r.BenchmarkCase.Parameters["Targets"] is CallTargets t && t == targets;
            var grain = 1e9 / MeanNs(summary, nameof(LocalCallThroughput.Grain), Case);
            var plain = 1e9 / MeanNs(summary, nameof(LocalCallThroughput.Plain), Case);
            var locked = 1e9 / MeanNs(summary, nameof(LocalCallThroughput.PlainLocked), Case);
            Results.Add(new ResultRow(
                "local call throughput",
                $"{callers} callers, {targets.ToString().ToLowerInvariant()} grain{(targets == CallTargets.Distinct ? "s" : string.Empty)}",
                Results.Format(grain, "calls/s"),
                $"{Results.Format(plain, "calls/s")} plain ({Results.Format(locked, "calls/s")} locked)",
                Results.Ratio(grain, plain),
                ">= 1 M calls/s",
                grain >= 1_000_000));
            var grainToGrain = 1e9 / MeanNs(summary, nameof(LocalCallThroughput.GrainToGrain), Case);
            Results.Add(new ResultRow(
                "local call throughput",
                $"  same, made by {callers} caller grains",
                Results.Format(grainToGrain, "calls/s"),
                $"{Results.Format(plain, "calls/s")} plain",
                Results.Ratio(grainToGrain, plain),
                ">= 1 M calls/s",
                grainToGrain >= 1_000_000));
            var grainYield = 1e9 / MeanNs(summary, nameof(LocalCallThroughput.GrainAfterYield), Case);
            var plainYield = 1e9 / MeanNs(summary, nameof(LocalCallThroughput.PlainAfterYield), Case);
            Results.Add(new ResultRow(
                "local call throughput",
                $"  same, body yields",
                Results.Format(grainYield, "calls/s"),
                $"{Results.Format(plainYield, "calls/s")} plain",
                Results.Ratio(grainYield, plainYield),
                ">= 1 M calls/s",
                grainYield >= 1_000_000));
        }
    }
}
