using Analytics.EndToEnd.Tests;

namespace Analytics.Dashboard.Tests;

/// <summary>
/// Plausible device readings: ten minutes back-dated, so the dashboard has full charts to draw
/// the moment the tests open it, and then live ones for as long as a test wants traffic. The
/// rate rises and falls in a slow wave, and each device's readings drift around its own
/// baseline. Seeded, so every run sends the same kind of events.
/// </summary>
public sealed class DemoFeed
{
    public static readonly (string Metric, double Baseline, double Spread, double Swing, double Noise)[] Metrics =
    [
        ("temperature", 21.5, 3, 1.2, 0.4),
        ("humidity", 46, 12, 4, 1.5),
        ("pressure", 1013, 6, 1.5, 0.3),
    ];

    public const int Devices = 24;

    private const long StepMs = 1000;
    private static readonly TimeSpan History = TimeSpan.FromMinutes(10);

    private readonly Random _random = new(13);
    private readonly double[][] _baselines;
    private readonly Dictionary<string, long> _counts = Metrics.ToDictionary(m => m.Metric, _ => 0L);
    private long _next;
    private long _sequence;

    public DemoFeed() =>
        _baselines = Metrics.Select(m => Enumerable.Range(0, Devices).Select(_ => m.Baseline + (_random.NextDouble() - 0.5) * m.Spread).ToArray()).ToArray();

    /// <summary>Events of each metric sent so far.</summary>
    public IReadOnlyDictionary<string, long> Counts => _counts;

    /// <summary>The readings of the ten minutes before <paramref name="nowMs"/>.</summary>
    public List<string> Backfill(long nowMs)
    {
        _next = nowMs - (long)History.TotalMilliseconds;
        return Until(nowMs);
    }

    /// <summary>The readings from where the feed stopped up to <paramref name="nowMs"/>.</summary>
    public List<string> Until(long nowMs)
    {
        var events = new List<string>();
        for (; _next + StepMs <= nowMs; _next += StepMs)
        {
            // One slow wave every three minutes, of wall-clock time, so the live part goes on
            // from where the back-dated part ended; now and then a burst.
            var phase = 2 * Math.PI * _next / 180_000.0;
            var perStep = (int)Math.Round(8 + 4 * Math.Sin(phase) + _random.Next(-1, 2) + (_random.NextDouble() < 0.03 ? 9 : 0));
            for (var m = 0; m < Metrics.Length; m++)
            {
                var metric = Metrics[m];
                for (var i = 0; i < perStep; i++)
                {
                    var device = _random.Next(Devices);
                    _baselines[m][device] += (_random.NextDouble() - 0.5) * metric.Noise * 0.05;
                    var value = Math.Round(_baselines[m][device] + metric.Swing * Math.Sin(phase + m) + (_random.NextDouble() - 0.5) * 2 * metric.Noise, 2);
                    events.Add(Event($"dev-{device:D2}", metric.Metric, value, _next + _random.Next(0, (int)StepMs), $"demo-{_sequence++}"));
                    _counts[metric.Metric]++;
                }
            }
        }

        return events;
    }

    public static string Event(string source, string metric, double value, long timestampMs, string id) =>
        SiloApi.Json(new SiloApi.Sent(source, metric, value, timestampMs, id));
}
