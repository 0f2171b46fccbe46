using System.Collections.Concurrent;
using Analytics.Runtime;
using Analytics.Runtime.Activation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Analytics.Bench;

/// <summary>
/// Memory per idle activation: activate N grains of a small stateless grain class, force a full
/// GC, and divide the growth of the managed heap by N. The baseline is N objects with the same
/// fields in a Dictionary&lt;string, object&gt; keyed by the same kind of key string. A breakdown
/// measures the parts one at a time the same way (key + GrainId, bare ActivationData, catalog
/// entry, grain object); what is left is what activation adds (its work queues).
/// </summary>
public static class ActivationMemory
{
    public sealed record Figures(double PerActivation, double PerPlainEntry, IReadOnlyList<(string Part, double Bytes)> Breakdown);

    public static async Task<Figures> RunAsync(int count)
    {
        Console.WriteLine($"== ActivationMemory: {count:N0} idle activations of SmallGrain vs {count:N0} SmallPlain objects in a Dictionary<string, object> ==");
        var host = await BenchSilo.StartAsync();
        try
        {
            var factory = host.GrainFactory();
            var catalog = host.Services.GetRequiredService<Catalog>();
            var grainClass = host.Services.GetRequiredService<GrainClassRegistry>().Find("small")
                ?? throw new InvalidOperationException("SmallGrain is not registered.");

            // Warm up: JIT, thread pool, and the first growth of every structure on the path.
            await ActivateAsync(factory, "warm-", 2_000, null);
            var plainWarm = BuildPlain("wp-", 2_000);
            GC.KeepAlive(plainWarm);

            // Baseline first, then released before the grains are measured.
            var plainBytes = Retained(() => BuildPlain("p-", count), out var plain);
            GC.KeepAlive(plain);
            plain = null;

            var activationsBefore = catalog.ActivationCount;
            var before = GC.GetTotalMemory(forceFullCollection: true);
            await ActivateAsync(factory, "g-", count, new Progress("activating", count));
            await Task.Delay(200); // let activation turns that outlive their first call finish
            var after = GC.GetTotalMemory(forceFullCollection: true);
            var activated = catalog.ActivationCount - activationsBefore;
            if (activated != count)
            {
                throw new InvalidOperationException($"Expected {count} new activations, the catalog has {activated}.");
            }

            var perActivation = (after - before) / (double)count;
            var perPlain = plainBytes / (double)count;

            // Breakdown, each part measured alone in arrays (minus the array's 8-byte slot).
            var ids = Retained(() => Enumerable.Range(0, count).Select(i => new GrainId("small", Key("b-", i))).ToArray(), out var idsObject);
            var idArray = (GrainId[])idsObject;
            var bare = Retained(() => idArray.Select(id => new ActivationData(id, grainClass, catalog)).ToArray(), out var bareObject);
            var bareArray = (ActivationData[])bareObject;
            var entries = Retained(
                () =>
                {
                    var map = new ConcurrentDictionary<GrainId, ActivationData>();
                    for (var i = 0; i < bareArray.Length; i++)
                    {
                        map[idArray[i]] = bareArray[i];
                    }

                    return map;
                },
                out var map);
            var grains = Retained(() => bareArray.Select(a => ActivationData.Construct(a, () => new SmallGrain())).ToArray(), out var grainObjects);
            GC.KeepAlive(map);
            GC.KeepAlive(grainObjects);
            GC.KeepAlive(bareArray);

            var idPart = ids / (double)count - 8;
            var barePart = bare / (double)count - 8;
            var entryPart = entries / (double)count;
            var grainPart = grains / (double)count - 8;
            var breakdown = new List<(string, double)>
            {
                ("key string + GrainId", idPart),
                ("ActivationData as constructed (with its lock object and participant list)", barePart),
                ("catalog entry (ConcurrentDictionary node + bucket share)", entryPart),
                ("grain object (SmallGrain)", grainPart),
                ("left: allocated by activation and kept (work/request queues, etc.)", perActivation - idPart - barePart - entryPart - grainPart),
            };

            Console.WriteLine($"  per idle activation: {perActivation:0} B; per plain dictionary entry: {perPlain:0} B");
            foreach (var (part, bytes) in breakdown)
            {
                Console.WriteLine($"    {bytes,6:0} B  {part}");
            }

            Results.Add(new ResultRow(
                "memory per idle activation",
                $"{count:N0} SmallGrain, no state",
                $"{perActivation:0} B",
                $"{perPlain:0} B/plain entry",
                Results.Ratio(perActivation, perPlain),
                "<= 1024 B",
                perActivation <= 1024));
            return new Figures(perActivation, perPlain, breakdown);
        }
        finally
        {
            await host.StopQuietlyAsync();
        }
    }

    private static string Key(string prefix, int i) => prefix + i.ToString("D7", System.Globalization.CultureInfo.InvariantCulture);

    private static Dictionary<string, object> BuildPlain(string prefix, int count)
    {
        var map = new Dictionary<string, object>();
        for (var i = 0; i < count; i++)
        {
            map[Key(prefix, i)] = new SmallPlain();
        }

        return map;
    }

    private static long Retained(Func<object> build, out object kept)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        kept = build();
        var after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(kept);
        return after - before;
    }

    /// <summary>Activates grains with 16 concurrent callers, each making the first call to its share.</summary>
    private static async Task ActivateAsync(IGrainFactory factory, string prefix, int count, Progress? progress)
    {
        const int callers = 16;
        var done = 0L;
        var tasks = Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
        {
            for (var i = c; i < count; i += callers)
            {
                await factory.GetGrain<ISmallGrain>(Key(prefix, i)).Touch();
                progress?.Report(Interlocked.Increment(ref done));
            }
        }));
        await Task.WhenAll(tasks);
    }
}
