using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;

namespace Analytics.Bench;

/// <summary>
/// Cross-silo grain calls between two Orleans silos on loopback TCP, against a raw TCP echo of
/// messages of the same size and the same concurrency, measured in the same run.
/// <para>Measured: two silos in this process (two generic hosts with localhost clustering, the
/// second joining the first, on free 127.0.0.1 ports), calls made in silo A through its own
/// IGrainFactory to <see cref="IEchoGrain"/>s activated on silo B (PreferLocalPlacement, first
/// called from B; checked from A before measuring, and by Orleans' own count of messages sent
/// over the network while measuring). Latency: one call outstanding at a time. Throughput:
/// <see cref="Concurrency"/> callers on <see cref="Concurrency"/> distinct grains, so that the
/// grains' one-request-at-a-time rule is not the limit.</para>
/// <para>Baseline: an echo server (plain socket, System.IO.Pipelines, an 8-byte frame prefix as
/// Orleans has) that answers every frame of a read batch inline and flushes once per batch, with
/// request and response payloads as long as the Orleans request and response messages of the call
/// (measured in this run with Orleans' own message-size instrument). Two clients: ping-pong (the
/// floor of a round trip, latency only) and multiplexed (one connection, a correlation id and a
/// completion source per message, one write loop draining a channel): the multiplexed client, with
/// the same <see cref="Concurrency"/> messages outstanding, is the baseline of the ratios.</para>
/// <para>Both silos and both ends of the echo share this process's cores, so the process does the
/// sending and the receiving half of every call.</para>
/// </summary>
public static partial class NetworkCallBenchmark
{
    public const int Concurrency = 256;
    private const int LatencyCalls = 20_000;
    private static readonly TimeSpan LatencyCap = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan ThroughputTime = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan WarmUpRound = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan WarmUpLimit = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan InterleavedTime = TimeSpan.FromSeconds(1);
    private const int InterleavedRounds = 6;

    /// <summary>64 characters: a small argument, echoed back as the result.</summary>
    private static readonly string Payload = string.Concat(Enumerable.Repeat("0123456789abcdef", 4));

    public static async Task RunAsync()
    {
        Console.WriteLine($"== Cross-silo calls over loopback TCP against a raw TCP echo ({Concurrency} outstanding for throughput) ==");
        using var sizes = new MessageSizes();
        var cases = new List<Case>();
        List<(double Echo, double Grain)> interleaved = [];
        var siloA = await BenchSilo.StartAsync();
        IHost? siloB = null;
        try
        {
            siloB = BenchSilo.Build(name: "bench-b", primary: siloA.SiloPort());
            await siloB.StartAsync();
            await WaitForClusterAsync(siloA, 2);

            // Echo grains on silo B, called from silo A.
            var keys = Enumerable.Range(0, Concurrency).Select(i => $"echo-{i:D4}").ToArray();
            var onB = siloB.GrainFactory();
            await Task.WhenAll(keys.Select(k => onB.GetGrain<IEchoGrain>(k).Silo()));
            var factory = siloA.GrainFactory();
            var grains = keys.Select(k => factory.GetGrain<IEchoGrain>(k)).ToArray();
            var where = await Task.WhenAll(grains.Select(g => g.Silo()));
            if (where.Any(w => w != siloB.Identity()))
            {
                throw new InvalidOperationException($"{where.Count(w => w != siloB.Identity())} echo grains are not on silo B ({siloB.Identity()}).");
            }

            // The sizes of the call's messages on the wire, as Orleans counts them.
            sizes.Reset();
            for (var i = 0; i < 200; i++)
            {
                await CheckedEcho(grains[i % grains.Length]);
            }

            var (request, response) = sizes.RequestAndResponse(200);
            Console.WriteLine($"  Orleans messages of Echo(64-char string): request {request} B, response {response} B (orleans-messaging-sent-messages-size; seen: {sizes.Describe()})");
            Results.Note($"network: Orleans messages of the grain call Echo(64-char string): {request} B request, {response} B response (Orleans' sent-messages-size instrument); the raw echo sends payloads of the same lengths after an 8-byte prefix");

            // Baseline: raw TCP echo with the same message lengths.
            await using var server = EchoServer.Start(response);
            using var pingPong = await PingPongClient.ConnectAsync(server.EndPoint, request, response);
            cases.Add(await RunCaseAsync("raw TCP echo, ping-pong (socket send + receive)", pingPong.RoundTripAsync, null));
            await using var mux = await MuxEchoClient.ConnectAsync(server.EndPoint, request);
            cases.Add(await RunCaseAsync("raw TCP echo, multiplexed (correlation ids, write loop)", mux.SendAsync, _ => mux.SendAsync()));

            // Measured: grain calls made in silo A to grains on silo B.
            sizes.Reset();
            var networkCase = await RunCaseAsync("grain call A -> B, Orleans over loopback TCP", () => CheckedEcho(grains[0]), i => grains[i].Echo(Payload));
            cases.Add(networkCase);

            // The ratio of the goal: echo and grain calls in alternating 1 s slices, so that the
            // load others put on the machine weighs on both alike (the 3 s runs above are tens of
            // seconds apart, and the load moves by more than the figures in that time).
            interleaved = await InterleavedAsync(_ => mux.SendAsync(), i => grains[i].Echo(Payload));
            var sent = sizes.Count;
            Console.WriteLine($"  check: {sent:N0} messages sent over the network during the grain-call case (warm-up included), for {networkCase.Latency.Calls + networkCase.Throughput!.Calls:N0} measured calls");
            if (sent < 2 * (networkCase.Latency.Calls + networkCase.Throughput.Calls))
            {
                throw new InvalidOperationException("The grain calls did not all cross from silo A to silo B over the network.");
            }

            // Reference: the same call to an echo grain on silo A itself (no network).
            var local = factory.GetGrain<IEchoGrain>("echo-local");
            if (await local.Silo() != siloA.Identity())
            {
                throw new InvalidOperationException("The local echo grain is not on silo A.");
            }

            var locals = Enumerable.Range(0, Concurrency).Select(i => factory.GetGrain<IEchoGrain>($"echo-local-{i:D4}")).ToArray();
            await Task.WhenAll(locals.Select(g => g.Silo()));
            cases.Add(await RunCaseAsync("reference: same call to grains on silo A (local)", () => CheckedEcho(local), i => locals[i].Echo(Payload)));
        }
        finally
        {
            if (siloB is not null)
            {
                await siloB.StopQuietlyAsync();
            }

            await siloA.StopQuietlyAsync();
        }

        Report(cases, interleaved);
    }

    /// <summary>Throughput of the echo and of the grain calls in alternating slices (the order swapped each round): per round, echo msgs/s and grain calls/s.</summary>
    private static async Task<List<(double Echo, double Grain)>> InterleavedAsync(Func<int, Task> echo, Func<int, Task> grain)
    {
        var rounds = new List<(double Echo, double Grain)>();
        for (var r = 0; r < InterleavedRounds; r++)
        {
            double e, g;
            if (r % 2 == 0)
            {
                e = (await MeasureThroughputAsync(Concurrency, echo, InterleavedTime, quiet: true)).PerSecond;
                g = (await MeasureThroughputAsync(Concurrency, grain, InterleavedTime, quiet: true)).PerSecond;
            }
            else
            {
                g = (await MeasureThroughputAsync(Concurrency, grain, InterleavedTime, quiet: true)).PerSecond;
                e = (await MeasureThroughputAsync(Concurrency, echo, InterleavedTime, quiet: true)).PerSecond;
            }

            rounds.Add((e, g));
        }

        Console.WriteLine($"  interleaved 1 s slices, echo msgs/s / grain calls/s = ratio: {string.Join("; ", rounds.Select(x => $"{Results.Format(x.Echo, "")} / {Results.Format(x.Grain, "")} = {Results.Ratio(x.Grain, x.Echo)}"))}");
        return rounds;
    }

    private static async Task WaitForClusterAsync(IHost silo, int silos)
    {
        var management = silo.GrainFactory().GetGrain<IManagementGrain>(0);
        for (var i = 0; i < 300; i++)
        {
            if ((await management.GetHosts(onlyActive: true)).Count >= silos)
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The cluster did not reach {silos} active silos in 30 s.");
    }

    private static void Report(List<Case> cases, List<(double Echo, double Grain)> interleaved)
    {
        Console.WriteLine();
        Console.WriteLine("  latency: one call at a time; throughput: " + Concurrency + " outstanding. CPU, bytes allocated and thread-pool work items are the whole process's (both ends), per call; GC0: gen-0 collections during the throughput run; JIT: methods compiled while measuring.");
        Console.WriteLine($"  {"case",-58} | {"p50 us",7} | {"p90 us",7} | {"p99 us",7} | {"CPU us",6} | {"B",5} | {"items",5} || {"calls/s",10} | {"per CPU-s",9} | {"CPU us",6} | {"B",5} | {"items",5} | {"GC0",4} | {"JIT",3}");
        foreach (var c in cases)
        {
            var l = c.Latency;
            var t = c.Throughput;
            var left = $"  {c.Name,-58} | {Results.F(l.P50),7} | {Results.F(l.P90),7} | {Results.F(l.P99),7} | {Results.F(l.CpuMicrosPerCall),6} | {l.BytesPerCall,5:0} | {Results.F(l.WorkItemsPerCall, "0.00"),5} || ";
            Console.WriteLine(left + (t is null ? "-" : $"{Results.Format(t.PerSecond, "/s"),10} | {Results.Format(t.PerCpuSecond, ""),9} | {Results.F(t.CpuMicrosPerCall),6} | {t.BytesPerCall,5:0} | {Results.F(t.WorkItemsPerCall, "0.00"),5} | {t.Gen0,4} | {l.Jitted + t.Jitted,3}"));
        }

        var pingPong = cases[0].Latency;
        var echo = cases[1];
        var grain = cases[2];
        var local = cases[3];
        var ratios = interleaved.Select(x => x.Grain / x.Echo).Order().ToList();
        var median = ratios.Count == 0 ? double.NaN : (ratios[(ratios.Count - 1) / 2] + ratios[ratios.Count / 2]) / 2;
        Results.Add(new ResultRow(
            "cross-silo call throughput",
            $"loopback, {Concurrency} outstanding, {interleaved.Count} interleaved 1 s slices",
            Results.Format(interleaved.Select(x => x.Grain).Order().ElementAt(interleaved.Count / 2), "calls/s") + " (median slice)",
            Results.Format(interleaved.Select(x => x.Echo).Order().ElementAt(interleaved.Count / 2), "msgs/s") + " raw echo (median slice)",
            $"{Results.F(median, "0.00")}x median of slice ratios ({Results.F(ratios[0], "0.00")} to {Results.F(ratios[^1], "0.00")})",
            ">= 0.4x raw echo",
            median >= 0.4));
        Results.Add(new ResultRow(
            "cross-silo call throughput",
            $"loopback, {Concurrency} calls outstanding, 3 s each",
            Results.Format(grain.Throughput!.PerSecond, "calls/s") + $" ({Results.Format(grain.Throughput.PerCpuSecond, "calls/CPU-s")})",
            Results.Format(echo.Throughput!.PerSecond, "msgs/s") + $" raw echo ({Results.Format(echo.Throughput.PerCpuSecond, "msgs/CPU-s")})",
            $"{Results.Ratio(grain.Throughput.PerSecond, echo.Throughput.PerSecond)} ({Results.Ratio(grain.Throughput.PerCpuSecond, echo.Throughput.PerCpuSecond)} per CPU-s)",
            "(informs the row above)",
            null));
        Results.Add(new ResultRow(
            "cross-silo call latency",
            "loopback, 1 call at a time, p50",
            $"{Results.F(grain.Latency.P50)} us (p90 {Results.F(grain.Latency.P90)}, p99 {Results.F(grain.Latency.P99)})",
            $"{Results.F(echo.Latency.P50)} us raw echo p50 (ping-pong {Results.F(pingPong.P50)} us)",
            $"{Results.Ratio(grain.Latency.P50, echo.Latency.P50)} ({Results.Ratio(grain.Latency.P50, pingPong.P50)} ping-pong)",
            "- (old goal p50 <= 150 us)",
            null));
        Results.Add(new ResultRow(
            "reference",
            "same call, grains on silo A (local)",
            $"p50 {Results.F(local.Latency.P50)} us; {Results.Format(local.Throughput!.PerSecond, "calls/s")}",
            $"p50 {Results.F(echo.Latency.P50)} us; {Results.Format(echo.Throughput.PerSecond, "msgs/s")} raw echo",
            $"{Results.Ratio(local.Latency.P50, echo.Latency.P50)}; {Results.Ratio(local.Throughput.PerSecond, echo.Throughput.PerSecond)}",
            "-",
            null));
        Results.Note($"network: per call, the grain call costs {Results.F(grain.Throughput.CpuMicrosPerCall, "0.0")} us of CPU and {grain.Throughput.BytesPerCall:0} B allocated at {Concurrency} outstanding "
            + $"(raw echo {Results.F(echo.Throughput.CpuMicrosPerCall, "0.0")} us and {echo.Throughput.BytesPerCall:0} B), "
            + $"and {Results.F(grain.Throughput.WorkItemsPerCall, "0.00")} thread-pool work items (echo {Results.F(echo.Throughput.WorkItemsPerCall, "0.00")})");
    }

    private static async Task CheckedEcho(IEchoGrain grain)
    {
        if ((await grain.Echo(Payload)).Length != Payload.Length)
        {
            throw new InvalidOperationException("The echo grain returned another payload.");
        }
    }

    /// <summary>
    /// Listens to Orleans' <c>orleans-messaging-sent-messages-size</c> instrument (one measurement
    /// per message a silo writes to a connection, both silos of this process): how many were sent,
    /// and how large.
    /// </summary>
    private sealed class MessageSizes : IDisposable
    {
        private const string Instrument = "orleans-messaging-sent-messages-size";
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<long, long> _bySize = new();
        private long _count;

        public MessageSizes()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == Instrument)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<int>((_, value, _, _) => Add(value));
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Add(value));
            _listener.SetMeasurementEventCallback<double>((_, value, _, _) => Add((long)value));
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Reset()
        {
            _bySize.Clear();
            Interlocked.Exchange(ref _count, 0);
        }

        /// <summary>
        /// The two sizes seen about once per call each: the larger is the request (it carries the
        /// target's grain id and interface), the smaller the response.
        /// </summary>
        public (int Request, int Response) RequestAndResponse(int calls)
        {
            var common = _bySize.Where(s => s.Value >= calls * 9 / 10).Select(s => (int)s.Key).OrderDescending().ToList();
            return common.Count == 2
                ? (common[0], common[1])
                : common.Count == 1
                    ? (common[0], common[0])
                    : throw new InvalidOperationException($"Cannot tell the call's messages apart: {Describe()}");
        }

        public string Describe() => string.Join(", ", _bySize.OrderByDescending(s => s.Value).Take(6).Select(s => $"{s.Key} B x{s.Value}"));

        private void Add(long size)
        {
            Interlocked.Increment(ref _count);
            _bySize.AddOrUpdate(size, 1, (_, n) => n + 1);
        }

        public void Dispose() => _listener.Dispose();
    }
}
