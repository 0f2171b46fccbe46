using System.Globalization;
using Analytics.EndToEnd.Tests;

namespace Analytics.Dashboard.Tests;

/// <summary>
/// Ten minutes of plausible device readings, back-dated, so the dashboard has full charts to draw
/// the moment the tests open it: the rate rises and falls, and each device's readings drift
/// around its own baseline. Seeded, so every run sends the same events.
/// </summary>
internal static class DemoFeed
{
    public static readonly (string Metric, double Baseline, double Spread, double Swing, double Noise)[] Metrics =
    [
        ("temperature", 21.5, 3, 1.2, 0.4),
        ("humidity", 46, 12, 4, 1.5),
        ("pressure", 1013, 6, 1.5, 0.3),
    ];

    public const int Devices = 24;

    public static readonly TimeSpan Span = TimeSpan.FromMinutes(10);

    /// <summary>The events, as JSON elements, and how many each metric got.</summary>
    public static (List<string> Events, Dictionary<string, int> Counts) Generate(long nowMs)
    {
        var random = new Random(13);
        var events = new List<string>();
        var counts = Metrics.ToDictionary(m => m.Metric, _ => 0);
        var baselines = Metrics.Select(m => Enumerable.Range(0, Devices).Select(_ => m.Baseline + (random.NextDouble() - 0.5) * m.Spread).ToArray()).ToArray();
        var stepMs = 2_000L;
        var steps = (long)Span.TotalMilliseconds / stepMs;
        for (var step = 0L; step < steps; step++)
        {
            var t = nowMs - (long)Span.TotalMilliseconds + step * stepMs;
            var phase = 2 * Math.PI * step / 90.0; // one slow wave every three minutes
            // Events per step per metric: a wave between about 4 and 12, and now and then a burst.
            var perStep = (int)Math.Round(8 + 4 * Math.Sin(phase) + random.Next(-1, 2) + (random.NextDouble() < 0.04 ? 10 : 0));
            for (var m = 0; m < Metrics.Length; m++)
            {
                var metric = Metrics[m];
                for (var i = 0; i < perStep; i++)
                {
                    var device = random.Next(Devices);
                    baselines[m][device] += (random.NextDouble() - 0.5) * metric.Noise * 0.05;
                    var value = Math.Round(baselines[m][device] + metric.Swing * Math.Sin(phase + m) + (random.NextDouble() - 0.5) * 2 * metric.Noise, 2);
                    var id = $"demo-{events.Count}";
                    events.Add(SiloApi.Json(new SiloApi.Sent($"dev-{device:D2}", metric.Metric, value, t + random.Next(0, (int)stepMs), id)));
                    counts[metric.Metric]++;
                }
            }
        }

        return (events, counts);
    }

    public static string Event(string source, string metric, double value, long timestampMs, string id) =>
        SiloApi.Json(new SiloApi.Sent(source, metric, value, timestampMs, id));

    public static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
