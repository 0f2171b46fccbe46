using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using Analytics.Runtime;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Invocation;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Messaging;
using Analytics.Runtime.Messaging.Network;
using Analytics.Runtime.Messaging.Serialization;
using Analytics.Runtime.Placement;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Bench;

/// <summary>
/// Cross-silo grain calls over the network transport, on loopback, against a raw TCP echo of
/// messages of the same size measured in the same run.
/// <para>Baseline: an echo server (plain socket, System.IO.Pipelines, the transport's 13-byte frame
/// header) that answers every frame of a read batch inline and flushes once per batch. Two clients:
/// a ping-pong client (socket send, then receive the echo: the floor of a round trip) and a
/// multiplexed client built the way <see cref="FrameConnection"/> is (one connection, a correlation
/// id per message, a completion source per message completed asynchronously by a read loop, a
/// single write loop draining a channel and flushing when it is empty). The multiplexed client is
/// the baseline of the ratios; the message is the encoded request of the grain call, echoed back
/// whole (the grain's response is smaller, so the echo moves more bytes than the call).</para>
/// <para>Measured: two silos in this process (a <see cref="TestCluster"/> with
/// UseNetworkMessaging on 127.0.0.1), calls made in silo A through its own IGrainFactory to
/// <see cref="IEchoGrain"/>s that silo B owns (keys picked with silo A's placement, checked by the
/// transport's counters). Latency: one call outstanding at a time. Throughput:
/// <see cref="Concurrency"/> callers on <see cref="Concurrency"/> distinct grains, so one
/// connection A to B carries that many calls at once; the echo throughput runs with the same
/// number of messages outstanding on its one connection. Both silos share this process's cores, so
/// the process does the sending and the receiving half of every call: the calls/s figure is what
/// each silo of a two-silo cluster calling the other symmetrically could sustain on these cores.</para>
/// <para>Diagnostics in the same run: the transport's <see cref="FrameConnection"/> alone echoing
/// the same payload (framing without codec or runtime), the same grain calls handed straight to
/// the silo's transport (no router: no placement lookup, no response-timeout wrapper), the same
/// calls over the in-process transport, and the codec's CPU and allocations per message.</para>
/// </summary>
public static partial class NetworkCallBenchmark
{
    public const int Concurrency = 256;
    private const string Secret = "bench-network-cluster-secret";
    private const int LatencyCalls = 20_000;
    private static readonly TimeSpan LatencyCap = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan ThroughputTime = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan WarmUpRound = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan WarmUpLimit = TimeSpan.FromSeconds(8);

    /// <summary>64 characters: a small argument, echoed back as the result.</summary>
    private static readonly string Payload = string.Concat(Enumerable.Repeat("0123456789abcdef", 4));

    public static async Task RunAsync()
    {
        Console.WriteLine($"== Cross-silo calls over loopback TCP against a raw TCP echo ({Concurrency} outstanding for throughput) ==");
        var cases = new List<Case>();

        await using (var network = await StartClusterAsync(network: true))
        {
            var (siloA, siloB) = (network.Silos[0], network.Silos[1]);
            var keys = KeysOwnedBy(siloA, siloB.Address, Concurrency);

            // The encoded request of the call the benchmark makes: the size the echo sends.
            var capture = new CapturingGrainCallInvoker();
            _ = capture.References.GetGrain<IEchoGrain>(keys[0]).Echo(Payload); // recorded, never completes
            var (target, request) = capture.Calls.Count == 1 ? capture.Calls[0] : throw new InvalidOperationException("No call was captured.");
            var requestBytes = MessageCodec.EncodeRequest(target, request, hopCount: 0, siloB.Address.Generation);
            var responseBytes = MessageCodec.EncodeResponse(request, Task.FromResult(Payload));
            Console.WriteLine($"  request payload {requestBytes.Length} B ({requestBytes.Length + 13} B framed), response payload {responseBytes.Length} B; echo messages: {requestBytes.Length} B each way");
            Results.Note($"network: grain call Echo(64-char string) = {requestBytes.Length} B request and {responseBytes.Length} B response payloads (+13 B frame header each); the raw echo sends {requestBytes.Length} B both ways");

            // Baseline: raw TCP echo.
            await using (var server = EchoServer.Start())
            {
                using var pingPong = await PingPongClient.ConnectAsync(server.EndPoint, requestBytes);
                cases.Add(await RunCaseAsync("raw TCP echo, ping-pong (socket send + receive)", pingPong.RoundTripAsync, null));
                await using var mux = await MuxEchoClient.ConnectAsync(server.EndPoint);
                cases.Add(await RunCaseAsync("raw TCP echo, multiplexed (correlation ids, write loop)", () => mux.SendAsync(requestBytes), _ => mux.SendAsync(requestBytes)));
            }

            // Diagnostic: the transport's framed connection alone (handshake done, then echo).
            var frameOptions = new FrameNetworkOptions { ClusterId = "bench", ClusterSecret = Secret };
            await using (var listener = FrameListener.Start(new IPEndPoint(IPAddress.Loopback, 0), frameOptions, static (payload, _) => ValueTask.FromResult(payload)))
            {
                await using var connection = await FrameConnector.ConnectAsync(listener.LocalEndPoint, frameOptions);
                cases.Add(await RunCaseAsync("diagnostic: FrameConnection echo (no codec, no runtime)", () => connection.SendRequestAsync(requestBytes), _ => connection.SendRequestAsync(requestBytes)));
            }

            // Measured: grain calls made in silo A to grains on silo B.
            var statistics = siloA.Services.GetRequiredService<NetworkMessageTransport>().Statistics;
            var received = siloB.Services.GetRequiredService<NetworkMessageTransport>().Statistics;
            var factory = siloA.Services.GetRequiredService<Runtime.IGrainFactory>();
            var grains = keys.Select(k => factory.GetGrain<IEchoGrain>(k)).ToArray();
            await Task.WhenAll(grains.Select(g => g.Echo(Payload)));
            var sentBefore = statistics.Sent;
            var receivedBefore = received.Received;
            var networkCase = await RunCaseAsync("grain call A -> B, network transport", () => CheckedEcho(grains[0]), i => grains[i].Echo(Payload));
            cases.Add(networkCase);
            var sent = statistics.Sent - sentBefore;
            var arrived = received.Received - receivedBefore;
            Console.WriteLine($"  check: silo A sent {sent:N0} requests and silo B received {arrived:N0} in the grain-call case (warm-up included); activations: A {siloA.ActivationCount}, B {siloB.ActivationCount}");
            if (arrived < networkCase.Latency.Calls + networkCase.Throughput!.Calls)
            {
                throw new InvalidOperationException("The grain calls did not all cross from silo A to silo B over the network.");
            }

            // After the calls, so that the codec runs fully compiled (tier 1), as it does in a busy silo.
            CodecCosts(target, request, requestBytes, responseBytes);

            // Diagnostic: the same calls handed straight to silo A's transport (no router).
            var direct = new TransportInvoker(siloA.Services.GetRequiredService<IMessageTransport>(), siloB.Address).References;
            var directGrains = keys.Select(k => direct.GetGrain<IEchoGrain>(k)).ToArray();
            cases.Add(await RunCaseAsync("diagnostic: same, straight to the transport (no router)", () => CheckedEcho(directGrains[0]), i => directGrains[i].Echo(Payload)));
        }

        // Reference: the same calls between two silos over the in-process transport.
        await using (var inProcess = await StartClusterAsync(network: false))
        {
            var (siloA, siloB) = (inProcess.Silos[0], inProcess.Silos[1]);
            var factory = siloA.Services.GetRequiredService<Runtime.IGrainFactory>();
            var grains = KeysOwnedBy(siloA, siloB.Address, Concurrency).Select(k => factory.GetGrain<IEchoGrain>(k)).ToArray();
            await Task.WhenAll(grains.Select(g => g.Echo(Payload)));
            cases.Add(await RunCaseAsync("reference: grain call A -> B, in-process transport", () => CheckedEcho(grains[0]), i => grains[i].Echo(Payload)));
        }

        Report(cases);
    }

    private static void Report(List<Case> cases)
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
        var frames = cases[2];
        var grain = cases[3];
        var direct = cases[4];
        var inProcess = cases[5];
        Results.Add(new ResultRow(
            "cross-silo call latency",
            "network, 1 call at a time, p50",
            $"{Results.F(grain.Latency.P50)} us (p90 {Results.F(grain.Latency.P90)}, p99 {Results.F(grain.Latency.P99)})",
            $"{Results.F(echo.Latency.P50)} us raw echo p50 (ping-pong {Results.F(pingPong.P50)} us)",
            $"{Results.Ratio(grain.Latency.P50, echo.Latency.P50)} ({Results.Ratio(grain.Latency.P50, pingPong.P50)} ping-pong)",
            "p50 <= 150 us",
            grain.Latency.P50 <= 150));
        Results.Add(new ResultRow(
            "cross-silo call throughput",
            $"network, {Concurrency} calls outstanding",
            Results.Format(grain.Throughput!.PerSecond, "calls/s") + $" ({Results.Format(grain.Throughput.PerCpuSecond, "calls/CPU-s")})",
            Results.Format(echo.Throughput!.PerSecond, "msgs/s") + $" raw echo ({Results.Format(echo.Throughput.PerCpuSecond, "msgs/CPU-s")})",
            Results.Ratio(grain.Throughput.PerSecond, echo.Throughput.PerSecond),
            ">= 100 k calls/s",
            grain.Throughput.PerSecond >= 100_000));
        foreach (var (c, what) in new[] { (frames, "FrameConnection echo"), (direct, "no router"), (inProcess, "in-process transport") })
        {
            Results.Add(new ResultRow(
                c == inProcess ? "reference" : "diagnostic",
                what,
                $"p50 {Results.F(c.Latency.P50)} us; {Results.Format(c.Throughput!.PerSecond, "calls/s")}",
                $"p50 {Results.F(echo.Latency.P50)} us; {Results.Format(echo.Throughput.PerSecond, "msgs/s")} raw echo",
                $"{Results.Ratio(c.Latency.P50, echo.Latency.P50)}; {Results.Ratio(c.Throughput.PerSecond, echo.Throughput.PerSecond)}",
                "-",
                null));
        }

        Results.Note($"network: per call, the grain call costs {Results.F(grain.Throughput.CpuMicrosPerCall, "0.0")} us of CPU and {grain.Throughput.BytesPerCall:0} B allocated at {Concurrency} outstanding "
            + $"(FrameConnection echo {Results.F(frames.Throughput!.CpuMicrosPerCall, "0.0")} us and {frames.Throughput.BytesPerCall:0} B, raw echo {Results.F(echo.Throughput.CpuMicrosPerCall, "0.0")} us and {echo.Throughput.BytesPerCall:0} B), "
            + $"and {Results.F(grain.Throughput.WorkItemsPerCall, "0.00")} thread-pool work items (echo {Results.F(echo.Throughput.WorkItemsPerCall, "0.00")})");
    }

    private static async Task CheckedEcho(IEchoGrain grain)
    {
        if ((await grain.Echo(Payload)).Length != Payload.Length)
        {
            throw new InvalidOperationException("The echo grain returned another payload.");
        }
    }

    // ---- The clusters ---------------------------------------------------------------------------

    private static Task<TestCluster> StartClusterAsync(bool network) => TestCluster.StartAsync(new TestClusterOptions
    {
        InitialSilos = 2,
        ConfigureSilo = network
            ? silo => silo.UseNetworkMessaging(o =>
            {
                o.ClusterSecret = Secret;
                o.ListenAddress = "127.0.0.1";
            })
            : null,
        ConfigureServices = network
            ? services => services.PostConfigure<SiloOptions>(o =>
            {
                o.SiloPort = TestPorts.FreePort();
                o.GatewayPort = TestPorts.FreePort();
            })
            : null,
    });

    /// <summary>Keys of echo grains that silo A's placement puts on <paramref name="owner"/>.</summary>
    private static List<string> KeysOwnedBy(TestSilo caller, SiloAddress owner, int count)
    {
        var placement = caller.Services.GetRequiredService<IGrainPlacement>();
        var type = GrainTypeNames.ForInterface(typeof(IEchoGrain));
        var keys = Enumerable.Range(0, 100 * count)
            .Select(i => $"echo-{i:D6}")
            .Where(k => placement.GetOwner(new GrainId(type, k)) == owner)
            .Take(count)
            .ToList();
        return keys.Count == count ? keys : throw new InvalidOperationException($"Only {keys.Count} of {count} keys land on {owner}.");
    }

    /// <summary>Sends calls straight to one silo over the transport: no placement, no response timeout.</summary>
    private sealed class TransportInvoker : IGrainCallInvoker
    {
        private readonly IMessageTransport _transport;
        private readonly SiloAddress _silo;

        public TransportInvoker(IMessageTransport transport, SiloAddress silo)
        {
            _transport = transport;
            _silo = silo;
            References = new GrainReferenceFactory(this);
        }

        public GrainReferenceFactory References { get; }

        public Task Invoke(GrainId target, GrainInvokable request) => _transport.SendRequest(_silo, target, request, hopCount: 0);
    }

    // ---- Codec ----------------------------------------------------------------------------------

    /// <summary>CPU and allocations of each codec step of one call, on one thread.</summary>
    private static void CodecCosts(GrainId target, GrainInvokable request, byte[] requestBytes, byte[] responseBytes)
    {
        const int n = 50_000;
        var result = Task.FromResult(Payload);
        var steps = new (string Name, Action Step)[]
        {
            ("encode request", () => MessageCodec.EncodeRequest(target, request, 0, 1)),
            ("decode request", () => MessageCodec.DecodeRequest(requestBytes)),
            ("encode response", () => MessageCodec.EncodeResponse(request, result)),
            ("decode response", () => MessageCodec.DecodeResponse(request, responseBytes)),
        };
        var parts = new List<string>();
        foreach (var (name, step) in steps)
        {
            for (var i = 0; i < n / 10; i++)
            {
                step();
            }

            var bytes = GC.GetAllocatedBytesForCurrentThread();
            var cpu = ThreadCpuNanoseconds();
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < n; i++)
            {
                step();
            }

            var wall = Stopwatch.GetElapsedTime(start).TotalNanoseconds / n;
            var cpuNs = (ThreadCpuNanoseconds() - cpu) / (double)n;
            var allocated = (GC.GetAllocatedBytesForCurrentThread() - bytes) / (double)n;
            parts.Add(cpu < 0 ? $"{name} {wall:0} ns wall, {allocated:0} B" : $"{name} {cpuNs:0} ns CPU ({wall:0} wall), {allocated:0} B");
        }

        Console.WriteLine($"  codec per message (one thread): {string.Join("; ", parts)}");
        Results.Note($"network: codec per call (one thread, {n:N0} times each; CPU time of the thread, wall clock in brackets): {string.Join("; ", parts)}");
    }

    /// <summary>This thread's CPU time (Linux clock_gettime), or -1 where that is not available.</summary>
    private static long ThreadCpuNanoseconds()
    {
        try
        {
            return OperatingSystem.IsLinux() && NativeMethods.clock_gettime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var time) == 0
                ? (time.Seconds * 1_000_000_000L) + time.Nanoseconds
                : -1;
        }
        catch (DllNotFoundException)
        {
            return -1;
        }
    }

    private static class NativeMethods
    {
        [StructLayout(LayoutKind.Sequential)]
        public struct TimeSpec
        {
            public long Seconds;
            public long Nanoseconds;
        }

        [DllImport("libc", SetLastError = false)]
        public static extern int clock_gettime(int clock, out TimeSpec time);
    }
}
