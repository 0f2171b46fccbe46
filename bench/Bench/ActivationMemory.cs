namespace Analytics.Bench;

/// <summary>
/// Memory per idle activation: activate N grains of a small stateless grain class, force a full
/// GC, and divide the growth of the managed heap by N. The baseline is N objects with the same
/// fields in a Dictionary&lt;string, object&gt; keyed by the same kind of key string. The growth
/// counts everything an activation keeps in the silo: the grain object, Orleans' activation
/// record, its grain id, its entries in the activation directory and the grain directory
/// partition (one silo: the whole directory is local), and whatever they allocate on activation.
/// Orleans' internals are not broken down part by part here: they are Orleans', not ours.
/// </summary>
public static class ActivationMemory
{
    public sealed record Figures(double PerActivation, double PerPlainEntry);

    public static async Task<Figures> RunAsync(int count)
    {
        Console.WriteLine($"== ActivationMemory: {count:N0} idle activations of SmallGrain vs {count:N0} SmallPlain objects in a Dictionary<string, object> ==");
        var host = await BenchSilo.StartAsync();
        try
        {
            var factory = host.GrainFactory();
            var management = factory.GetGrain<IManagementGrain>(0);

            // Warm up: JIT, thread pool, and the first growth of every structure on the path.
            await ActivateAsync(factory, "warm-", 2_000, null);
            var plainWarm = BuildPlain("wp-", 2_000);
            GC.KeepAlive(plainWarm);

            // Baseline first, then released before the grains are measured.
            var plainBytes = Retained(() => BuildPlain("p-", count), out var plain);
            GC.KeepAlive(plain);
            plain = null;

            var activationsBefore = await management.GetTotalActivationCount();
            var before = GC.GetTotalMemory(forceFullCollection: true);
            await ActivateAsync(factory, "g-", count, new Progress("activating", count));
            await Task.Delay(500); // let activation work that outlives the first call finish
            var after = GC.GetTotalMemory(forceFullCollection: true);
            var activated = await management.GetTotalActivationCount() - activationsBefore;
            // The management grain's call itself may activate a system target or two; allow a handful.
            if (Math.Abs(activated - count) > 8)
            {
                throw new InvalidOperationException($"Expected {count} new activations, the silo reports {activated}.");
            }

            var perActivation = (after - before) / (double)count;
            var perPlain = plainBytes / (double)count;
            Console.WriteLine($"  per idle activation: {perActivation:0} B ({activated:N0} new activations); per plain dictionary entry: {perPlain:0} B");

            Results.Add(new ResultRow(
                "memory per idle activation",
                $"{count:N0} SmallGrain, no state",
                $"{perActivation:0} B",
                $"{perPlain:0} B/plain entry",
                Results.Ratio(perActivation, perPlain),
                "- (old goal <= 1024 B)",
                null));
            return new Figures(perActivation, perPlain);
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
