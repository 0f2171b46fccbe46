using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Analytics.Aws.Tests;
using Analytics.Aws.Kinesis;
using Xunit.Abstractions;
using static Analytics.EndToEnd.Tests.SiloApi;

namespace Analytics.EndToEnd.Tests;

/// <summary>
/// Several silo processes form one cluster through the DynamoDB membership table and call each
/// other over the network, while they read the Kinesis shards through the DynamoDB leases. Silos
/// die (SIGKILL), leave (SIGTERM) and join in the middle of the load, queries keep being asked
/// throughout, and every number is exact at the end.
/// </summary>
[Collection(EmulatorCollection.Name)]
public sealed class ClusterFailoverTests(EmulatorHost emulators, ITestOutputHelper output) : IDisposable
{
    private const int Shards = 6;
    private readonly KinesisClient _kinesis = emulators.CreateKinesisClient();

    public void Dispose() => _kinesis.Dispose();

    [Fact]
    public async Task Three_silos_ingest_200k_events_through_a_kill_a_graceful_stop_and_a_join_and_every_number_is_exact()
    {
        var run = Stopwatch.StartNew();
        var aws = await AwsSilo.CreateAsync(emulators, _kinesis, shards: Shards);
        var events = KinesisProducer.Generate(200_000, 1000, AwsSiloTests.Metrics, seed: 21, "c");
        var random = new Random(21);
        var silos = new List<SiloProcess>();
        await using var cleanup = new Cleanup(silos);
        silos.AddRange(await Task.WhenAll(new[] { "a", "b", "c" }.Select(name => StartAsync(aws, name))));

        await WaitForBalanceAsync(silos, expectedSilos: 3);
        output.WriteLine($"3 silos up and balanced at {run.Elapsed.TotalSeconds:0.0} s");
        var queries = new QueryProbe(silos);
        var probing = queries.RunAsync();
        var figures = new List<string>();
        string? deadGateway = null;
        (long Sent, long Received) trafficBefore = default;

        // Ten parts of 20k events; a SIGKILL, a SIGTERM and a join land at random points within three of them.
        for (var part = 0; part < 10; part++)
        {
            var slice = events.Skip(part * 20_000).Take(20_000).ToList();
            // 100 events per record keeps kinesis-mock's PutRecords fast (see KinesisProducer.PutAsync).
            var putting = KinesisProducer.PutAsync(_kinesis, aws.Stream, slice, eventsPerRecord: 100);
            await Task.Delay(random.Next(0, 1500));
            if (part == 3)
            {
                var victim = Pick(silos, random);
                deadGateway = await GatewayOfAsync(victim);
                Remove(silos, victim);
                var killedAt = Stopwatch.StartNew();
                await victim.KillAsync();
                await WaitForAllShardsOwnedAsync(silos, Shards);
                var owned = killedAt.Elapsed;
                await WaitForAllGrainsAnsweringAsync(silos, events);
                figures.Add($"SIGKILL -> all {Shards} shards owned again: {owned.TotalSeconds:0.0} s; -> every metric grain and 200 source grains answering: {killedAt.Elapsed.TotalSeconds:0.0} s");
                await victim.DisposeAsync();
            }
            else if (part == 5)
            {
                var leaving = Pick(silos, random);
                Remove(silos, leaving);
                var stopping = Stopwatch.StartNew();
                var exit = await leaving.TerminateAsync(TimeSpan.FromSeconds(35));
                Assert.True(exit == 0, $"SIGTERM exit code {exit}\n{leaving.Output}");
                figures.Add($"SIGTERM -> process exited: {stopping.Elapsed.TotalSeconds:0.0} s");
                await WaitForAllShardsOwnedAsync(silos, Shards);
                figures.Add($"SIGTERM -> all shards owned by the others: {stopping.Elapsed.TotalSeconds:0.0} s");
                await leaving.DisposeAsync();
            }
            else if (part == 6)
            {
                silos.Add(await StartAsync(aws, "d"));
            }

            await putting;
            output.WriteLine($"part {part} put at {run.Elapsed.TotalSeconds:0.0} s");
            if (part == 6)
            {
                // Messages per event are counted over the last three parts, when the membership no longer changes.
                await AwsSiloTests.WaitForTotalAsync(silos[0], 140_000);
                trafficBefore = await NetworkTotalsAsync(silos);
            }
        }

        await AwsSiloTests.WaitForTotalAsync(silos[0], events.Count);
        var trafficAfter = await NetworkTotalsAsync(silos);

        output.WriteLine($"all put at {run.Elapsed.TotalSeconds:0.0} s");

        foreach (var survivor in silos)
        {
            await AwsSiloTests.AssertExactAsync(survivor, events);
            output.WriteLine($"exact through {survivor.Http.BaseAddress} at {run.Elapsed.TotalSeconds:0.0} s");
        }

        var balance = await WaitForBalanceAsync(silos, expectedSilos: silos.Count);
        queries.Stop();
        await probing;
        figures.Add($"shards per live silo at the end: {balance}");
        figures.Add($"queries: {queries.Succeeded} answered, {queries.Failed} failed; longest gap without an answer: {queries.LongestGap.TotalSeconds:0.00} s");
        figures.Add($"silo-to-silo grain calls over the last 60,000 events (2 silos, 6 shards, queries every 100 ms included): {trafficAfter.Sent - trafficBefore.Sent} = {(trafficAfter.Sent - trafficBefore.Sent) / 60_000.0:0.000} per event");
        foreach (var figure in figures)
        {
            output.WriteLine(figure);
        }

        // Any silo's /api/cluster lists every silo of the run: the two live ones with their own
        // figures (fetched from them), the killed and the stopped one as dead.
        var cluster = (await silos[0].Http.GetFromJsonAsync<JsonObject>("/api/cluster"))!;
        var rows = cluster["silos"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Assert.Equal(4, rows.Count);
        Assert.Equal(2, rows.Count(r => (string)r["status"]! == "Dead"));
        foreach (var live in rows.Where(r => (string)r["status"]! == "Active"))
        {
            Assert.True((int)live["activationCount"]! > 0, live.ToJsonString());
            Assert.Equal(Shards / 2, live["queues"]!.AsArray().Count);
            Assert.All(live["queues"]!.AsArray(), q => Assert.NotNull(q!["iteratorAgeMs"]));
            Assert.StartsWith("zone-", (string)live["zone"]!);
        }

        // The cluster client's tool: the first gateway is the killed silo's, so it fails over; another cluster's id is refused.
        var gateways = new List<string> { deadGateway! };
        foreach (var silo in silos)
        {
            gateways.Add(await GatewayOfAsync(silo));
        }

        string[] call = ["call", .. gateways.SelectMany(g => new[] { "--gateway", g }), "stats", AwsSiloTests.Metrics[0], "--window", "1h"];
        var (callExit, printed) = await CliProcess.RunAsync(call);
        Assert.True(callExit == 0, printed);
        Assert.Equal(events.Count(e => e.Metric == AwsSiloTests.Metrics[0]), (long)JsonNode.Parse(printed)!["count"]!);
        var (refused, message) = await CliProcess.RunAsync(["call", "--cluster-id", "another-cluster", "--connect-timeout", "5s", "--gateway", gateways[1], "metrics"]);
        Assert.True(refused == 1, message);
        Assert.Contains("cluster", message, StringComparison.OrdinalIgnoreCase);

        // Queries never stopped for longer than a failure takes to be detected and repaired.
        Assert.True(queries.LongestGap < TimeSpan.FromSeconds(20), $"longest query gap {queries.LongestGap}");
    }

    /// <summary>
    /// Checkpoints every 5 s rather than the other tests' 1 s: three silos writing every touched
    /// grain each second saturate dynalite on two cores, and a longer interval also makes each
    /// kill replay more of the stream, which is what the test is about. Leases keep the production
    /// duration of 10 s.
    /// </summary>
    private Task<SiloProcess> StartAsync(AwsSilo aws, string name) =>
        aws.StartAsync($"--Silo:Name={name}", $"--Silo:Zone=zone-{name}",
            "--Streams:CheckpointInterval=00:00:05", "--Analytics:FlushInterval=00:00:05",
            // The production lease duration: a killed silo's shards must move when it is voted dead, not when its leases run out.
            "--Leases:LeaseDuration=00:00:10");

    private static SiloProcess Pick(List<SiloProcess> silos, Random random)
    {
        lock (silos)
        {
            return silos[random.Next(silos.Count)];
        }
    }

    private static void Remove(List<SiloProcess> silos, SiloProcess silo)
    {
        lock (silos)
        {
            silos.Remove(silo);
        }
    }

    /// <summary>Polls /api/cluster until the live silos own every shard between them; returns how long that took.</summary>
    private static async Task<TimeSpan> WaitForAllShardsOwnedAsync(List<SiloProcess> silos, int shards)
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(60))
        {
            var owned = new HashSet<string>();
            foreach (var silo in silos.ToList())
            {
                foreach (var queue in await OwnQueuesAsync(silo))
                {
                    owned.Add(queue);
                }
            }

            if (owned.Count >= shards)
            {
                return waited.Elapsed;
            }

            await Task.Delay(200);
        }

        throw new Xunit.Sdk.XunitException("The shards were not all owned again within 60 s.");
    }

    /// <summary>Every metric grain and a sample of source grains answer through the first live silo.</summary>
    private static async Task<TimeSpan> WaitForAllGrainsAnsweringAsync(List<SiloProcess> silos, IReadOnlyList<Sent> events)
    {
        var waited = Stopwatch.StartNew();
        var paths = AwsSiloTests.Metrics.Select(m => $"/api/metrics/{m}/stats?window=1h")
            .Concat(events.Select(e => e.Source).Distinct().Take(200).Select(s => $"/api/sources/{s}?window=1h")).ToList();
        while (waited.Elapsed < TimeSpan.FromSeconds(60))
        {
            var silo = silos[0];
            var failures = 0;
            foreach (var path in paths)
            {
                using var response = await silo.Http.GetAsync(path);
                failures += response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound ? 0 : 1;
            }

            if (failures == 0)
            {
                return waited.Elapsed;
            }

            await Task.Delay(100);
        }

        throw new Xunit.Sdk.XunitException("Not every grain answered again within 60 s.");
    }

    /// <summary>Waits until every live silo reads between floor and ceiling of shards/silos shards; returns the spread.</summary>
    private static async Task<string> WaitForBalanceAsync(List<SiloProcess> silos, int expectedSilos)
    {
        var waited = Stopwatch.StartNew();
        var counts = new List<int>();
        while (waited.Elapsed < TimeSpan.FromSeconds(90))
        {
            counts = [];
            foreach (var silo in silos.ToList())
            {
                counts.Add((await OwnQueuesAsync(silo)).Count);
            }

            if (counts.Count == expectedSilos && counts.Sum() == Shards && counts.Max() - counts.Min() <= 1)
            {
                return string.Join(", ", counts);
            }

            await Task.Delay(250);
        }

        throw new Xunit.Sdk.XunitException($"The shards never balanced: {string.Join(", ", counts)} over {expectedSilos} silos.");
    }

    private static async Task<string> GatewayOfAsync(SiloProcess silo)
    {
        var cluster = (await silo.Http.GetFromJsonAsync<JsonObject>("/api/cluster"))!;
        return (string)cluster["silos"]!.AsArray().Single(s => (bool)s!["isSelf"]!)!["gateway"]!;
    }

    private static async Task<List<string>> OwnQueuesAsync(SiloProcess silo)
    {
        try
        {
            var self = await silo.Http.GetFromJsonAsync<JsonObject>("/api/cluster/self");
            return self!["queues"]!.AsArray().Select(q => (string)q!["queue"]!).ToList();
        }
        catch (HttpRequestException)
        {
            return [];
        }
    }

    private static async Task<(long Sent, long Received)> NetworkTotalsAsync(List<SiloProcess> silos)
    {
        long sent = 0, received = 0;
        foreach (var silo in silos)
        {
            var network = (await silo.Http.GetFromJsonAsync<JsonObject>("/api/cluster/self"))!["network"]!;
            sent += (long)network["sent"]!;
            received += (long)network["received"]!;
        }

        return (sent, received);
    }

    /// <summary>Asks a metric query of a random live silo every 100 ms, and keeps the longest time between two answers.</summary>
    private sealed class QueryProbe(List<SiloProcess> silos)
    {
        private readonly CancellationTokenSource _stop = new();

        public TimeSpan LongestGap { get; private set; }

        public int Succeeded { get; private set; }

        public int Failed { get; private set; }

        public void Stop() => _stop.Cancel();

        public async Task RunAsync()
        {
            var random = new Random(5);
            var lastAnswer = Stopwatch.StartNew();
            while (!_stop.IsCancellationRequested)
            {
                SiloProcess silo;
                lock (silos)
                {
                    silo = silos[random.Next(silos.Count)];
                }

                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    using var response = await silo.Http.GetAsync($"/api/metrics/{AwsSiloTests.Metrics[random.Next(AwsSiloTests.Metrics.Length)]}/stats?window=1h", timeout.Token);
                    if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound)
                    {
                        LongestGap = lastAnswer.Elapsed > LongestGap ? lastAnswer.Elapsed : LongestGap;
                        lastAnswer.Restart();
                        Succeeded++;
                    }
                    else
                    {
                        Failed++;
                    }
                }
                catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException)
                {
                    // A silo that was just killed or stopped: the next pick is probably a live one.
                    Failed++;
                }

                await Task.Delay(100);
            }
        }
    }

    private sealed class Cleanup(List<SiloProcess> silos) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var silo in silos.ToList())
            {
                await silo.DisposeAsync();
            }
        }
    }
}
