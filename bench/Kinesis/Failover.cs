using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Analytics.Aws.Tests;

namespace Analytics.Bench.Kinesis;

/// <summary>
/// <c>failover</c>: SIGKILL one silo of a 3-silo cluster in AWS mode (kinesis-mock and dynalite,
/// DynamoDB membership and shard leases, production defaults for both: 10 s leases, failure
/// detection as the silo configures it) and time how long until the survivors own every shard
/// again, as each silo's <c>/api/cluster/self</c> lists the queues it reads (polled every 100 ms).
/// The reference in the same round is when a survivor's <c>/api/cluster</c> first lists the killed
/// silo as Dead: the membership vote that the shard balancer acts on. After each round a new silo
/// joins and the shards balance again before the next kill.
/// Usage: KinesisBench failover [shards=6] [silos=3] [rounds=3]
/// </summary>
internal static class Failover
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    public static async Task<int> RunAsync(string[] args, CancellationToken stop)
    {
        var shards = IntArg(args, "shards", 6);
        var siloCount = IntArg(args, "silos", 3);
        var rounds = IntArg(args, "rounds", 3);
        Console.WriteLine($"{Environment.ProcessorCount} cores; failover: {siloCount} silos, {shards} shards, {rounds} SIGKILLs; load average {LoadAverage()}");
        var emulators = new EmulatorHost();
        var silos = new List<BenchSilo>();
        var next = 0;
        try
        {
            Console.Error.WriteLine("starting kinesis-mock and dynalite");
            await emulators.InitializeAsync();
            using var kinesis = emulators.CreateKinesisClient();
            var stream = EmulatorHost.UniqueName("failover");
            await kinesis.CreateStreamAsync(stream, shards, stop);
            await kinesis.WaitForStreamActiveAsync(stream, TimeSpan.FromSeconds(30), stop);
            var tablePrefix = $"fo{Guid.NewGuid():N}"[..12] + "-";
            var clusterId = "failover-" + tablePrefix.TrimEnd('-');
            BenchSilo Start() => BenchSilo.Start(stream, emulators.KinesisUrl, emulators.DynamoDbUrl, tablePrefix, [$"--Orleans:ClusterId={clusterId}", $"--Silo:Name=s{next++}"]);

            for (var i = 0; i < siloCount; i++)
            {
                silos.Add(Start());
            }

            await Task.WhenAll(silos.Select(s => s.WaitReadyAsync(TimeSpan.FromSeconds(120), stop)));
            Console.Error.WriteLine($"  balance at start: {await WaitForBalanceAsync(silos, shards, stop)}");
            var random = new Random(11);
            var figures = new List<(double Owned, double Dead, string Moved)>();
            for (var round = 1; round <= rounds; round++)
            {
                var victim = silos[random.Next(silos.Count)];
                var victimQueues = await QueuesAsync(victim, stop);
                var victimAddress = await AddressAsync(victim, stop);
                silos.Remove(victim);
                var clock = Stopwatch.StartNew();
                victim.Process.Kill(); // SIGKILL on Linux
                double? dead = null;
                double? owned = null;
                while (clock.Elapsed < TimeSpan.FromSeconds(120) && (owned is null || dead is null))
                {
                    if (dead is null && await IsDeadAsync(silos[0], victimAddress, stop))
                    {
                        dead = clock.Elapsed.TotalSeconds;
                    }

                    if (owned is null)
                    {
                        var all = new HashSet<string>(StringComparer.Ordinal);
                        foreach (var silo in silos)
                        {
                            all.UnionWith(await QueuesAsync(silo, stop));
                        }

                        if (all.Count >= shards)
                        {
                            owned = clock.Elapsed.TotalSeconds;
                        }
                    }

                    await Task.Delay(Poll, stop);
                }

                victim.Dispose();
                figures.Add((owned ?? double.NaN, dead ?? double.NaN, string.Join(" ", victimQueues)));
                Console.WriteLine($"round {round}: SIGKILL of a silo reading {victimQueues.Count} shards -> declared dead after {Seconds(dead)}, all {shards} shards owned again after {Seconds(owned)}");

                // A new silo takes the dead one's place before the next round.
                if (round < rounds)
                {
                    var joined = Start();
                    silos.Add(joined);
                    await joined.WaitReadyAsync(TimeSpan.FromSeconds(120), stop);
                    Console.Error.WriteLine($"  balance after a new silo joined: {await WaitForBalanceAsync(silos, shards, stop)}");
                }
            }

            Console.WriteLine();
            Console.WriteLine("| figure | rounds | median | goal | met? |");
            Console.WriteLine("| --- | --- | --- | --- | --- |");
            var ownedMedian = Median(figures.Select(f => f.Owned));
            Console.WriteLine($"| SIGKILL -> all {shards} shards owned again | {string.Join(", ", figures.Select(f => f.Owned.ToString("0.0", CultureInfo.InvariantCulture) + " s"))} | {ownedMedian:0.0} s | <= 20 s | {(figures.All(f => f.Owned <= 20) ? "met" : "**missed**")} |");
            Console.WriteLine($"| reference: SIGKILL -> declared dead (a survivor's /api/cluster) | {string.Join(", ", figures.Select(f => f.Dead.ToString("0.0", CultureInfo.InvariantCulture) + " s"))} | {Median(figures.Select(f => f.Dead)):0.0} s | | |");
            Console.WriteLine($"load average at the end: {LoadAverage()}");
            return figures.All(f => double.IsFinite(f.Owned)) ? 0 : 1;
        }
        finally
        {
            foreach (var silo in silos)
            {
                silo.Dispose();
            }

            await emulators.DisposeAsync();
        }
    }

    /// <summary>Waits until the shards are spread evenly (each silo within one of the others); returns the counts.</summary>
    private static async Task<string> WaitForBalanceAsync(List<BenchSilo> silos, int shards, CancellationToken stop)
    {
        var watch = Stopwatch.StartNew();
        var counts = new List<int>();
        while (watch.Elapsed < TimeSpan.FromSeconds(120))
        {
            counts = [];
            foreach (var silo in silos)
            {
                counts.Add((await QueuesAsync(silo, stop)).Count);
            }

            if (counts.Sum() == shards && counts.Max() - counts.Min() <= 1)
            {
                return $"{string.Join(", ", counts)} after {watch.Elapsed.TotalSeconds:0.0} s";
            }

            await Task.Delay(250, stop);
        }

        throw new TimeoutException($"the shards never balanced: {string.Join(", ", counts)}");
    }

    private static async Task<List<string>> QueuesAsync(BenchSilo silo, CancellationToken stop)
    {
        try
        {
            var self = JsonNode.Parse(await silo.Http.GetStringAsync("/api/cluster/self", stop))!;
            return self["queues"]!.AsArray().Select(q => (string)q!["queue"]!).ToList();
        }
        catch (HttpRequestException)
        {
            return [];
        }
    }

    private static async Task<string> AddressAsync(BenchSilo silo, CancellationToken stop) =>
        (string)JsonNode.Parse(await silo.Http.GetStringAsync("/api/cluster/self", stop))!["address"]!;

    private static async Task<bool> IsDeadAsync(BenchSilo survivor, string address, CancellationToken stop)
    {
        try
        {
            var cluster = JsonNode.Parse(await survivor.Http.GetStringAsync("/api/cluster", stop))!;
            return cluster["silos"]!.AsArray().Any(s => (string)s!["address"]! == address && (string)s["status"]! == "Dead");
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static string Seconds(double? value) => value is { } v ? $"{v:0.0} s" : "more than 120 s";

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2];
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static int IntArg(string[] args, string name, int value) =>
        args.FirstOrDefault(a => a.StartsWith(name + "=", StringComparison.OrdinalIgnoreCase)) is { } arg
            ? int.Parse(arg[(name.Length + 1)..], CultureInfo.InvariantCulture)
            : value;
}
