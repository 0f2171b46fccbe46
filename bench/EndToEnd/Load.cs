using System.Diagnostics;
using Analytics.Events;

namespace Analytics.Bench.EndToEnd;

/// <summary>
/// The generated load, built once and posted unchanged to every silo of the run: POST bodies of
/// <c>batch</c> events over <see cref="Sources"/> sources and <see cref="Metrics"/> metrics, every
/// event with a unique id (a repeated id is a duplicate, and a silo would rightly drop it) and a
/// timestamp in the minute before the bodies were built. Each silo gets its own data folder, so the
/// same ids are new to each.
/// </summary>
internal sealed class Load
{
    public const int Sources = 10_000;
    public const int Metrics = 20;

    private Load(byte[][] bodies, int batchSize, string metricPrefix)
    {
        Bodies = bodies;
        BatchSize = batchSize;
        MetricPrefix = metricPrefix;
    }

    /// <summary>The metrics are this prefix and two digits.</summary>
    public string MetricPrefix { get; }

    public string Metric(int m) => $"{MetricPrefix}{m:D2}";

    public byte[][] Bodies { get; }

    public int BatchSize { get; }

    /// <summary>The first half of the bodies is for the flat-out phase, the rest for the sustained phase.</summary>
    public int FlatOutBodies => Bodies.Length / 2;

    /// <summary>The measured load: sources dev-NNNNN, metrics metric.NN, ids b-N.</summary>
    public static Load Build(int count, int batchSize) => Build(count, batchSize, "dev-", "metric.", "b-", seed: 1);

    /// <summary>
    /// The warm-up load: its own sources, metrics and ids, so that it warms the JIT and the silo's
    /// pools without activating any grain the measured load uses.
    /// </summary>
    public static Load BuildWarmUp(int count, int batchSize) => Build(count, batchSize, "warm-", "warm.", "w-", seed: 3);

    private static Load Build(int count, int batchSize, string sourcePrefix, string metricPrefix, string idPrefix, int seed)
    {
        var random = new Random(seed);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var n = 0L;
        var bodies = Enumerable.Range(0, count).Select(_ =>
        {
            var events = Enumerable.Range(0, batchSize).Select(_ =>
                new AnalyticsEvent($"{sourcePrefix}{random.Next(Sources):D5}", $"{metricPrefix}{random.Next(Metrics):D2}", Math.Round(random.NextDouble() * 100, 2), now - random.Next(0, 60_000), $"{idPrefix}{n++}")).ToArray();
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            EventSerializer.WriteArray(buffer, events);
            return buffer.WrittenSpan.ToArray();
        }).ToArray();
        return new Load(bodies, batchSize, metricPrefix);
    }

    /// <summary>The baseline: parse the same bodies with EventParser and add every event to a dictionary, on one thread.</summary>
    public double MeasureBaseline(TimeSpan duration)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var options = new EventValidationOptions();
        var sums = new Dictionary<(string, string), double>();
        long events = 0;
        var watch = Stopwatch.StartNew();
        for (var i = 0; watch.Elapsed < duration && i < Bodies.Length * 4; i++)
        {
            var result = EventParser.ParseBody(Bodies[i % Bodies.Length], ndjson: false, now, options);
            foreach (var e in result.Accepted)
            {
                sums[(e.Source, e.Metric)] = sums.GetValueOrDefault((e.Source, e.Metric)) + e.Value;
            }

            events += result.Accepted.Count;
        }

        return events / watch.Elapsed.TotalSeconds;
    }
}
