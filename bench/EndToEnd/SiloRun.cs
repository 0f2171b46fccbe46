using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Analytics.Bench.EndToEnd;

/// <summary>What one silo did with the load.</summary>
internal sealed record SiloResult(
    string Name,
    string Dll,
    long Accepted,
    double AcceptedPerSecond,
    double EndToEndPerSecond,
    long Counted,
    double SiloCpuMicrosPerEvent,
    double SustainedRate,
    double QueryP50,
    double QueryP99,
    double ServerP50,
    double ServerP99,
    double BenchGcPauseMs,
    int Queries,
    double FreshnessP50,
    double FreshnessP99,
    int Probes,
    TimeSpan Startup,
    SiloGc Gc);

/// <summary>
/// The silo's allocation and GC pauses, from its /api/cluster/self before and after each phase
/// (NaN from a build that does not report them). Bytes per event move far less with how busy the
/// machine is than throughput does, so they compare builds where throughput is too noisy to.
/// </summary>
/// <param name="PausedShare1">Share of phase 1's wall time the GC held the silo paused.</param>
/// <param name="PausedShare2">The same in phase 2, while the queries ran.</param>
/// <param name="MeanPauseMs2">Mean pause per collection in phase 2: a query that arrives in a pause waits for it.</param>
/// <param name="HeapBytes">The managed heap after the last collection of phase 2.</param>
internal sealed record SiloGc(double AllocatedBytesPerEvent, double PausedShare1, double PausedShare2, double MeanPauseMs2, double Collections2, double HeapBytes);

/// <summary>
/// The two phases against one silo, after a warm-up: the warm-up load posted flat out for a few
/// seconds and waited for until counted (its own sources and metrics; not measured), so that
/// the JIT has compiled the silo's hot paths before the clock runs. Phase 1 posts the first half of the bodies as fast as the silo
/// accepts them (for at most the phase's seconds), then waits until the metric grains have counted
/// every accepted event. Phase 2 posts at a fixed rate below capacity while it queries
/// <c>stats?window=5m</c> every 20 ms and sends a freshness probe every 200 ms.
/// </summary>
internal static class SiloRun
{
    public static async Task<SiloResult> RunAsync(string name, string dll, Load load, Load warmUp, int warmUpSeconds, int seconds, int posters, int sustainedRate)
    {
        Console.Error.WriteLine($"[{name}] starting {dll}");
        var startWatch = Stopwatch.StartNew();
        using var silo = SiloProcess.Start(name, dll);
        await silo.WaitReadyAsync();
        var startup = startWatch.Elapsed;
        var http = silo.Http;

        if (warmUpSeconds > 0)
        {
            var (warmed, _) = await FlatOutAsync(http, warmUp, warmUp.Bodies.Length, warmUpSeconds, posters, name + " warm-up");
            var warmCounted = await WaitCountedAsync(http, warmUp, warmed, name + " warm-up");
            Console.Error.WriteLine($"  [{name}] warm-up: {warmCounted:N0} of {warmed:N0} counted");
        }

        // Phase 1: throughput.
        var cpuBefore = silo.CpuTime();
        var runtime0 = await RuntimeAsync(http);
        var started = Stopwatch.GetTimestamp();
        var (expected, next) = await FlatOutAsync(http, load, load.FlatOutBodies, seconds, posters, name);
        var ingestSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var counted = await WaitCountedAsync(http, load, expected, name);
        var processSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var cpuPerEvent = (silo.CpuTime() - cpuBefore).TotalMicroseconds / Math.Max(1, expected);
        var runtime1 = await RuntimeAsync(http);

        // Phase 2: a sustained rate below capacity, with queries and freshness probes alongside.
        if (sustainedRate <= 0)
        {
            sustainedRate = Math.Max(1000, (int)(expected / processSeconds / 2));
        }

        Console.Error.WriteLine($"  [{name}] sustained phase: {sustainedRate:N0} events/s for {seconds} s");
        var sustained = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var benchPauseBefore = GC.GetTotalPauseDuration();
        var queries = Task.Run(() => QueryLatenciesAsync(http, load, sustained.Token));
        var freshness = Task.Run(() => FreshnessAsync(http, sustained.Token));
        var paced = Stopwatch.GetTimestamp();
        long sustainedAccepted = 0;
        next = Math.Max(next, load.FlatOutBodies - 1);
        while (!sustained.IsCancellationRequested && ++next < load.Bodies.Length)
        {
            sustainedAccepted += await PostAsync(http, load.Bodies[next]);
            var due = TimeSpan.FromSeconds((double)sustainedAccepted / sustainedRate) - Stopwatch.GetElapsedTime(paced);
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due);
            }
        }

        var sustainedSeconds = Stopwatch.GetElapsedTime(paced).TotalSeconds;
        var achieved = sustainedAccepted / sustainedSeconds;
        var runtime2 = await RuntimeAsync(http);
        var (queryLatencies, serverLatencies) = await queries;
        var freshnessLatencies = await freshness;
        var benchPause = GC.GetTotalPauseDuration() - benchPauseBefore;
        var result = new SiloResult(
            name,
            dll,
            expected,
            expected / ingestSeconds,
            expected / processSeconds,
            counted,
            cpuPerEvent,
            achieved,
            Percentile(queryLatencies, 0.5),
            Percentile(queryLatencies, 0.99),
            Percentile(serverLatencies, 0.5),
            Percentile(serverLatencies, 0.99),
            benchPause.TotalMilliseconds,
            queryLatencies.Count,
            Percentile(freshnessLatencies, 0.5),
            Percentile(freshnessLatencies, 0.99),
            freshnessLatencies.Count,
            startup,
            new SiloGc(
                Delta(runtime0, runtime1, "allocatedBytes") / Math.Max(1, expected),
                Delta(runtime0, runtime1, "gcPauseMs") / 1000 / processSeconds,
                Delta(runtime1, runtime2, "gcPauseMs") / 1000 / sustainedSeconds,
                Delta(runtime1, runtime2, "gcPauseMs") / Delta(runtime1, runtime2, "gen0Collections"),
                Delta(runtime1, runtime2, "gen0Collections"),
                runtime2?["heapBytes"]?.GetValue<double>() ?? double.NaN));
        Console.Error.WriteLine($"  [{name}] {result.EndToEndPerSecond:N0} events/s end to end ({result.Accepted:N0} accepted at {result.AcceptedPerSecond:N0}/s, {result.Counted:N0} counted; silo CPU {cpuPerEvent:0.0} us per event)");
        return result;
    }

    private static async Task<JsonNode?> RuntimeAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/api/cluster/self");
        return response.IsSuccessStatusCode ? JsonNode.Parse(await response.Content.ReadAsStringAsync())?["runtime"] : null;
    }

    // Every collection counts in gen 0's count, so its delta is the number of collections.
    private static double Delta(JsonNode? before, JsonNode? after, string figure) =>
        before?[figure] is { } b && after?[figure] is { } a ? a.GetValue<double>() - b.GetValue<double>() : double.NaN;

    /// <summary>Posts bodies 0 .. <paramref name="bodies"/>-1 as fast as they are accepted, for at most <paramref name="seconds"/>: the events accepted, and the last body index taken.</summary>
    private static async Task<(long Accepted, int Next)> FlatOutAsync(HttpClient http, Load load, int bodies, int seconds, int posters, string name)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        long accepted = 0;
        var next = -1;
        var started = Stopwatch.GetTimestamp();
        var progress = Task.Run(async () =>
        {
            // Woken by the stop, so posters that finish early are timed when they finish, not at the next report.
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(2000, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                Console.Error.WriteLine($"  [{name}] {Stopwatch.GetElapsedTime(started).TotalSeconds,5:0} s  accepted {Interlocked.Read(ref accepted),12:N0}");
            }
        });
        await Task.WhenAll(Enumerable.Range(0, posters).Select(_ => Task.Run(async () =>
        {
            int i;
            while (!stop.IsCancellationRequested && (i = Interlocked.Increment(ref next)) < bodies)
            {
                Interlocked.Add(ref accepted, await PostAsync(http, load.Bodies[i]));
            }
        })));
        await stop.CancelAsync();
        await progress;
        return (Interlocked.Read(ref accepted), Math.Min(next, bodies - 1));
    }

    private static async Task<long> PostAsync(HttpClient http, byte[] body)
    {
        using var response = await http.PostAsync("/api/events", new ByteArrayContent(body) { Headers = { ContentType = new("application/json") } });
        var text = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode
            ? (long)JsonNode.Parse(text)!["accepted"]!
            : throw new InvalidOperationException($"POST /api/events: {(int)response.StatusCode} {text}");
    }

    /// <summary>
    /// Each query's latency as the bench sees it, and as the silo took it (its Server-Timing
    /// header): the difference is the network stack and this process, whose own pauses (it holds
    /// every body it posts) land in the first figure only.
    /// </summary>
    private static async Task<(List<double> Client, List<double> Server)> QueryLatenciesAsync(HttpClient http, Load load, CancellationToken stop)
    {
        var latencies = new List<double>();
        var server = new List<double>();
        var random = new Random(2);
        await Task.Delay(2000, CancellationToken.None);
        while (!stop.IsCancellationRequested)
        {
            var start = Stopwatch.GetTimestamp();
            using var response = await http.GetAsync($"/api/metrics/{load.Metric(random.Next(Load.Metrics))}/stats?window=5m");
            await response.Content.ReadAsByteArrayAsync();
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            if (response.Headers.TryGetValues("Server-Timing", out var timing)
                && timing.First().Split("dur=") is [_, var ms]
                && double.TryParse(ms, System.Globalization.CultureInfo.InvariantCulture, out var serverMs))
            {
                server.Add(serverMs);
            }

            await Task.Delay(20, CancellationToken.None);
        }

        return (latencies, server);
    }

    private static async Task<List<double>> FreshnessAsync(HttpClient http, CancellationToken stop)
    {
        var latencies = new List<double>();
        var probe = 0;
        while (!stop.IsCancellationRequested)
        {
            probe++;
            var body = $"[{{\"source\":\"probe\",\"metric\":\"fresh.probe\",\"value\":1,\"id\":\"p-{probe}\"}}]";
            using (await http.PostAsync("/api/events", new StringContent(body, Encoding.UTF8, "application/json")))
            {
            }

            var accepted = Stopwatch.GetTimestamp();
            var deadline = accepted + (30 * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var stats = JsonNode.Parse(await http.GetStringAsync("/api/metrics/fresh.probe/stats?window=1h").ContinueWith(t => t.IsFaulted ? "{\"count\":0}" : t.Result));
                if ((long)stats!["count"]! >= probe)
                {
                    break;
                }

                await Task.Delay(5, CancellationToken.None);
            }

            latencies.Add(Stopwatch.GetElapsedTime(accepted).TotalMilliseconds);
            await Task.Delay(200, CancellationToken.None);
        }

        return latencies;
    }

    private static async Task<long> WaitCountedAsync(HttpClient http, Load load, long expected, string name)
    {
        var watch = Stopwatch.StartNew();
        var lastProgress = TimeSpan.Zero;
        long counted = 0;
        while (watch.Elapsed < TimeSpan.FromMinutes(10))
        {
            counted = 0;
            for (var m = 0; m < Load.Metrics; m++)
            {
                using var response = await http.GetAsync($"/api/metrics/{load.Metric(m)}/stats?window=1h");
                if (response.IsSuccessStatusCode)
                {
                    counted += (long)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["count"]!;
                }
            }

            if (counted >= expected)
            {
                return counted;
            }

            if (watch.Elapsed - lastProgress >= TimeSpan.FromSeconds(5))
            {
                lastProgress = watch.Elapsed;
                Console.Error.WriteLine($"  [{name}] counted {counted,12:N0} of {expected:N0}");
            }

            await Task.Delay(200);
        }

        return counted;
    }

    private static double Percentile(List<double> values, double q)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToList();
        return sorted[(int)Math.Floor(q * (sorted.Count - 1))];
    }
}
