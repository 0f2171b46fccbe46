using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Analytics.Bench.EndToEnd;

// End-to-end benchmark of the embedded silo: POST /api/events -> local log -> grains, with 10k
// sources and 20 metrics, for one or more silo binaries on the same generated load, one after the
// other in the same run (issue 11: the Orleans build against today's build, 8028aee).
// Usage: EndToEndBench [seconds=15] [posters=4] [batch=1000] [rate=half] [silos=new] [rounds=1] [warmup=3]
//                      [new=path/Analytics.Silo.dll] [old=path/Analytics.Silo.dll]
//   new  defaults to this repository's Silo/bin/<configuration>/net10.0/Analytics.Silo.dll
//   old  defaults to /tmp/old-build/Silo/bin/Release/net10.0/Analytics.Silo.dll
//        (git worktree add /tmp/old-build 8028aee && dotnet build /tmp/old-build/Silo -c Release)
//   rounds  runs the silos that many times, the order reversed every other round (old, new, new, old, ...)
//   warmup  seconds of a separate warm-up load (own sources and metrics) before phase 1, not measured
//   rate    events/s of the sustained phase (queries and freshness), or "half": half of what phase 1 reached
// The line before last is one JSON object with every figure; the last line is issue 14's summary
// (medians over the runs of the last silo named): {"eventsPerSec","baselinePerSec","statsP50Ms",
// "statsP99Ms","freshnessP50Ms","freshnessP99Ms","writesPerEvent","accepted","counted"}.
var seconds = IntArg(0, "seconds", 15);
var posters = IntArg(1, "posters", 4);
var batchSize = IntArg(2, "batch", 1000);
var sustainedRate = Arg(3, "rate") is null or "half" ? 0 : IntArg(3, "rate", 0);
var rounds = IntArg(-1, "rounds", 1);
var warmUpSeconds = IntArg(-1, "warmup", 3);
var here = new DirectoryInfo(AppContext.BaseDirectory);
var dlls = new Dictionary<string, string>(StringComparer.Ordinal)
{
    ["new"] = Arg(-1, "new") ?? Path.GetFullPath(Path.Combine(here.FullName, "../../../../../Silo/bin", here.Parent!.Name, here.Name, "Analytics.Silo.dll")),
    ["old"] = Arg(-1, "old") ?? "/tmp/old-build/Silo/bin/Release/net10.0/Analytics.Silo.dll",
};
var silos = (Arg(-1, "silos") ?? "new").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
foreach (var silo in silos)
{
    // Any other name is the new build under another configuration: E2E_SILO_ARGS_<name> (see SiloProcess).
    if (!dlls.ContainsKey(silo))
    {
        dlls[silo] = Arg(-1, silo) ?? dlls["new"];
    }

    if (!dlls.TryGetValue(silo, out var dll) || !File.Exists(dll))
    {
        Console.Error.WriteLine($"silo '{silo}': {(dll is null ? "unknown (use old or new)" : $"{dll} is not built")}");
        return 2;
    }
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
var loadAtStart = LoadAverage();
Console.WriteLine($"{Environment.ProcessorCount} cores; load average {loadAtStart}; {seconds} s per phase, {posters} posters, batches of {batchSize}, sustained {(sustainedRate > 0 ? $"{sustainedRate:N0} events/s" : "at half of phase 1")}, {Load.Sources} sources, {Load.Metrics} metrics; silos {string.Join(", ", silos)}, {rounds} round(s), {warmUpSeconds} s warm-up each");

// Room for 300k events/s flat out, twice the goal, so that phase 1 is bound by its seconds and not
// by running out of bodies (a silo faster than the load would otherwise show as the load's size).
var load = Load.Build(Math.Max(64, seconds * 2 * 300_000 / batchSize), batchSize);
var warmUp = Load.BuildWarmUp(Math.Max(16, warmUpSeconds * 150_000 / batchSize), batchSize);
// Baseline, same run: parse the same bodies and add every event to a dictionary.
var baseline = load.MeasureBaseline(TimeSpan.FromSeconds(5));
Console.WriteLine($"baseline (parse + dictionary, one thread): {baseline:N0} events/s");

var results = new List<SiloResult>();
for (var round = 0; round < rounds; round++)
{
    var order = round % 2 == 0 ? silos : silos.Reverse().ToArray();
    foreach (var silo in order)
    {
        results.Add(await SiloRun.RunAsync(silo, dlls[silo], load, warmUp, warmUpSeconds, seconds, posters, sustainedRate));
    }
}

var loadAtEnd = LoadAverage();
Console.WriteLine();
Console.WriteLine("| silo | round | accepted (202) events/s | end-to-end events/s | / baseline | silo CPU per event | stats p50 / p99 | in the silo p50 / p99 | bench GC pauses | freshness p50 / p99 | at events/s | counted / accepted | startup | silo allocated per event | silo GC paused, phase 1 / 2 | phase 2 collections, mean pause | silo heap |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (var i = 0; i < results.Count; i++)
{
    var r = results[i];
    Console.WriteLine($"| {r.Name} | {i / silos.Length + 1} | {r.AcceptedPerSecond:N0} | {r.EndToEndPerSecond:N0} | {r.EndToEndPerSecond / baseline:P1} | {r.SiloCpuMicrosPerEvent:0.0} us | {r.QueryP50:0.0} / {r.QueryP99:0.0} ms | {r.ServerP50:0.00} / {r.ServerP99:0.00} ms | {r.BenchGcPauseMs:0} ms | {r.FreshnessP50:0} / {r.FreshnessP99:0} ms | {r.SustainedRate:N0} | {r.Counted:N0} / {r.Accepted:N0} | {r.Startup.TotalSeconds:0.0} s | {r.Gc.AllocatedBytesPerEvent:N0} B | {r.Gc.PausedShare1:P1} / {r.Gc.PausedShare2:P1} | {r.Gc.Collections2:N0}, {r.Gc.MeanPauseMs2:0.0} ms | {r.Gc.HeapBytes / 1048576:N0} MB |");
}

double Median(string silo, Func<SiloResult, double> figure)
{
    var values = results.Where(r => r.Name == silo).Select(figure).Order().ToList();
    return values.Count == 0 ? double.NaN : values[values.Count / 2];
}

Console.WriteLine($"baseline: {baseline:N0} events/s parsed; load average {loadAtStart} at start, {loadAtEnd} at end");
var summary = new JsonObject
{
    ["bench"] = "endtoend",
    ["cores"] = Environment.ProcessorCount,
    ["loadAverageStart"] = loadAtStart,
    ["loadAverageEnd"] = loadAtEnd,
    ["seconds"] = seconds,
    ["posters"] = posters,
    ["batch"] = batchSize,
    ["sustainedRate"] = sustainedRate,
    ["warmupSeconds"] = warmUpSeconds,
    ["baselineParsedPerSecond"] = Number(baseline),
    ["runs"] = new JsonArray([.. results.Select(r => (JsonNode)new JsonObject
    {
        ["silo"] = r.Name,
        ["dll"] = r.Dll,
        ["accepted"] = r.Accepted,
        ["counted"] = r.Counted,
        ["acceptedPerSecond"] = Number(r.AcceptedPerSecond),
        ["endToEndPerSecond"] = Number(r.EndToEndPerSecond),
        ["siloCpuMicrosPerEvent"] = Number(r.SiloCpuMicrosPerEvent),
        ["sustainedRate"] = Number(r.SustainedRate),
        ["statsP50Ms"] = Number(r.QueryP50),
        ["statsP99Ms"] = Number(r.QueryP99),
        ["statsInSiloP50Ms"] = Number(r.ServerP50),
        ["statsInSiloP99Ms"] = Number(r.ServerP99),
        ["benchGcPauseMs"] = Number(r.BenchGcPauseMs),
        ["freshnessP50Ms"] = Number(r.FreshnessP50),
        ["freshnessP99Ms"] = Number(r.FreshnessP99),
        ["startupSeconds"] = Number(r.Startup.TotalSeconds),
        ["siloAllocatedBytesPerEvent"] = Number(r.Gc.AllocatedBytesPerEvent),
        ["siloGcPausedShare1"] = Number(r.Gc.PausedShare1),
        ["siloGcPausedShare2"] = Number(r.Gc.PausedShare2),
        ["siloGcMeanPauseMs2"] = Number(r.Gc.MeanPauseMs2),
        ["siloHeapBytes"] = Number(r.Gc.HeapBytes),
    })]),
};
if (silos.Contains("old") && silos.Contains("new"))
{
    var ratio = Median("new", r => r.EndToEndPerSecond) / Median("old", r => r.EndToEndPerSecond);
    var cpuRatio = Median("new", r => r.SiloCpuMicrosPerEvent) / Median("old", r => r.SiloCpuMicrosPerEvent);
    summary["newOverOldEndToEnd"] = Number(ratio);
    summary["newOverOldCpuPerEvent"] = Number(cpuRatio);
    summary["goalNoSlower"] = ratio >= 1;
    Console.WriteLine($"new / old, end-to-end events/s (medians): {ratio:0.00}x (goal >= 1: {(ratio >= 1 ? "met" : "missed")}); silo CPU per event new / old: {cpuRatio:0.00}x");
}

Console.WriteLine(summary.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
var last = silos[^1];
Console.WriteLine(new JsonObject
{
    ["eventsPerSec"] = Number(Median(last, r => r.EndToEndPerSecond)),
    ["baselinePerSec"] = Number(baseline),
    ["statsP50Ms"] = Number(Median(last, r => r.QueryP50)),
    ["statsP99Ms"] = Number(Median(last, r => r.QueryP99)),
    ["freshnessP50Ms"] = Number(Median(last, r => r.FreshnessP50)),
    ["freshnessP99Ms"] = Number(Median(last, r => r.FreshnessP99)),
    ["writesPerEvent"] = 0, // embedded: no DynamoDB
    ["accepted"] = results.Where(r => r.Name == last).Sum(r => r.Accepted),
    ["counted"] = results.Where(r => r.Name == last).Sum(r => r.Counted),
}.ToJsonString());
return results.All(r => r.Counted >= r.Accepted) ? 0 : 1;

// JSON has no NaN: a figure that was not measured is null.
static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, 3)) : null;

string? Arg(int position, string name) =>
    args.FirstOrDefault(a => a.StartsWith(name + "=", StringComparison.OrdinalIgnoreCase))?[(name.Length + 1)..]
    ?? (position >= 0 && args.Length > position && !args[position].Contains('=', StringComparison.Ordinal) ? args[position] : null);

int IntArg(int position, string name, int value) =>
    Arg(position, name) is { } text ? int.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture) : value;
