using System.Diagnostics;
using System.Text;
using Analytics.Aws.Kinesis;

namespace Analytics.Bench.Kinesis;

internal sealed record ProduceResult(long Events, long Records, TimeSpan Elapsed)
{
    public double Rate => Events / Elapsed.TotalSeconds;
}

/// <param name="PutMs">How long each probe's PutRecords took to answer (not part of the freshness figure).</param>
/// <param name="Slow">Probes that took over a second: when in the phase they were put, and how long they took.</param>
internal sealed record ProbeResult(List<double> LatenciesMs, List<double> PutMs, List<(double At, double Ms)> Slow, int Put, int TimedOut);

/// <summary>The sustained phase: load at a fixed rate into Kinesis, and freshness probes beside it.</summary>
internal static class Sustained
{
    public const string ProbeMetric = "bench.probe";
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ProbeEvery = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ProbePoll = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Every 250 ms, one AppendAsync (PutRecords calls of up to 500 records) of the events due by
    /// then at <paramref name="rate"/>, in full records of 25 from the next sources in turn. A put
    /// that takes longer than a tick is caught up at the next one. Ends at the first tick at or
    /// after <paramref name="duration"/>, with everything due by then put.
    /// </summary>
    public static async Task<ProduceResult> ProduceAsync(Producer producer, Expected expected, int rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var records = producer.Records;
        long put = 0;
        var progress = TimeSpan.Zero;
        for (var tick = 1; ; tick++)
        {
            var wait = tick * Tick - Stopwatch.GetElapsedTime(started);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            var due = (long)(rate * Math.Min(elapsed.TotalSeconds, duration.TotalSeconds)) - put;
            if (due > 0)
            {
                var events = producer.Packed((int)due, "s");
                await producer.PutAsync(events, cancellationToken);
                expected.Add(events);
                put += events.Count;
            }

            if (elapsed - progress >= TimeSpan.FromSeconds(2))
            {
                progress = elapsed;
                Console.Error.WriteLine($"  sustained {elapsed.TotalSeconds,5:0} s  put {put,12:N0} ({put / elapsed.TotalSeconds:N0} events/s)");
            }

            if (elapsed >= duration)
            {
                return new ProduceResult(put, producer.Records - records, Stopwatch.GetElapsedTime(started));
            }
        }
    }

    /// <summary>
    /// Every 200 ms (or as soon as the previous probe is visible, if that took longer), one event of
    /// its own source probe-N and metric bench.probe, put with a single PutRecords; the latency is
    /// from the PutRecords answer until stats?window=1h counts it, polled every 20 ms.
    /// </summary>
    public static async Task<ProbeResult> ProbeAsync(KinesisClient client, string stream, BenchSilo silo, TimeSpan duration, CancellationToken cancellationToken)
    {
        var latencies = new List<double>();
        var putMs = new List<double>();
        var slow = new List<(double At, double Ms)>();
        int put = 0, timedOut = 0;
        var started = Stopwatch.GetTimestamp();
        var next = TimeSpan.Zero;
        while (Stopwatch.GetElapsedTime(started) < duration)
        {
            var wait = next - Stopwatch.GetElapsedTime(started);
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }

            next = Stopwatch.GetElapsedTime(started) + ProbeEvery;
            var probe = new BenchEvent($"probe-{put + 1}", ProbeMetric, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), $"p-{put + 1}");
            var putting = Stopwatch.GetTimestamp();
            var result = await client.PutRecordsAsync(stream, [new PutRecordsEntry(Encoding.UTF8.GetBytes(probe.Json()), probe.Source)], cancellationToken);
            if (result.FailedRecordCount > 0)
            {
                Console.Error.WriteLine($"  probe {put + 1} was refused ({result.Records[0].ErrorCode}); trying again");
                continue;
            }

            var answered = Stopwatch.GetTimestamp();
            putMs.Add(Stopwatch.GetElapsedTime(putting, answered).TotalMilliseconds);
            var at = Stopwatch.GetElapsedTime(started);
            put++;
            while (true)
            {
                var (count, _) = await silo.StatsAsync(ProbeMetric, cancellationToken);
                if (count >= put)
                {
                    var latency = Stopwatch.GetElapsedTime(answered).TotalMilliseconds;
                    latencies.Add(latency);
                    if (latency > 1000)
                    {
                        slow.Add((at.TotalSeconds, latency));
                        Console.Error.WriteLine($"  probe {put} put at {at.TotalSeconds:0.0} s of the phase took {latency:N0} ms");
                    }

                    break;
                }

                if (Stopwatch.GetElapsedTime(answered) > ProbeTimeout)
                {
                    timedOut++;
                    Console.Error.WriteLine($"  probe {put} not visible after {ProbeTimeout.TotalSeconds:0} s");
                    break;
                }

                await Task.Delay(ProbePoll, cancellationToken);
            }
        }

        return new ProbeResult(latencies, putMs, slow, put, timedOut);
    }

    /// <summary>
    /// Samples a running count (the proxy's PutItem requests) every 250 ms until stopped, and gives
    /// the stretches in which it rose by more than <paramref name="burst"/> a second: the silo's
    /// checkpoints, when every grain it delivered to writes its state.
    /// </summary>
    public static async Task<List<(double From, double To, long Count)>> BurstsAsync(Func<long> count, long burst, CancellationToken stop)
    {
        var bursts = new List<(double From, double To, long Count)>();
        var started = Stopwatch.GetTimestamp();
        var last = count();
        (double From, double To, long Count)? open = null;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(250, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var now = count();
            var at = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if ((now - last) * 4 > burst)
            {
                open = open is { } o ? (o.From, at, o.Count + now - last) : (at - 0.25, at, now - last);
            }
            else if (open is { } done)
            {
                bursts.Add(done);
                open = null;
            }

            last = now;
        }

        if (open is { } unfinished)
        {
            bursts.Add(unfinished);
        }

        return bursts;
    }

    public static double Percentile(IReadOnlyCollection<double> values, double q)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToList();
        return sorted[(int)Math.Ceiling(q * sorted.Count) - 1];
    }
}
