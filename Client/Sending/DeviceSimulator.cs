using System.Globalization;
using Analytics.Events;

namespace Analytics.Client.Sending;

/// <summary>What the simulated devices look like.</summary>
public sealed class SimulatorOptions
{
    public static readonly IReadOnlyList<string> DefaultMetrics = ["temperature", "humidity", "pressure"];

    /// <summary>How many devices: sources <c>{SourcePrefix}0</c> … <c>{SourcePrefix}{n-1}</c>.</summary>
    public int Sources { get; init; } = 100;

    public string SourcePrefix { get; init; } = "dev-";

    /// <summary>The metrics every device reports, in turn.</summary>
    public IReadOnlyList<string> Metrics { get; init; } = DefaultMetrics;

    /// <summary>Seed of every random choice; the same seed and clock give the same events. Null: a random seed.</summary>
    public int? Seed { get; init; }

    /// <summary>Share of events (0–1) stamped in the past, up to <see cref="LateBy"/> before now, to exercise late arrival.</summary>
    public double LateFraction { get; init; }

    /// <summary>How far in the past a late event may be stamped.</summary>
    public TimeSpan LateBy { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Share of events (0–1) that resend an earlier event unchanged (same source and id), to exercise deduplication.</summary>
    public double DuplicateFraction { get; init; }

    /// <summary>Timestamps are now plus or minus up to this much (zero: exactly now).</summary>
    public TimeSpan Jitter { get; init; }

    public void Validate()
    {
        if (Sources < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Sources), Sources, "At least one source is needed.");
        }

        if (Metrics.Count == 0)
        {
            throw new ArgumentException("At least one metric is needed.", nameof(Metrics));
        }

        foreach (string metric in Metrics)
        {
            if (Names.ValidateMetric(metric) is { } error)
            {
                throw new ArgumentException(error, nameof(Metrics));
            }
        }

        if (Names.ValidateSource(SourcePrefix + (Sources - 1).ToString(CultureInfo.InvariantCulture)) is { } sourceError)
        {
            throw new ArgumentException(sourceError, nameof(SourcePrefix));
        }

        if (LateFraction is < 0 or > 1 || double.IsNaN(LateFraction))
        {
            throw new ArgumentOutOfRangeException(nameof(LateFraction), LateFraction, "A fraction is from 0 to 1.");
        }

        if (DuplicateFraction is < 0 or > 1 || double.IsNaN(DuplicateFraction))
        {
            throw new ArgumentOutOfRangeException(nameof(DuplicateFraction), DuplicateFraction, "A fraction is from 0 to 1.");
        }
    }
}

/// <summary>
/// Generates readings of a fleet of devices. Each device has, per metric, its own baseline, a
/// slow random drift that wanders back towards the baseline, a slow periodic swing and
/// measurement noise, so the series look like sensors rather than white noise. Devices report in
/// turn, one metric per event; ids are <c>{source}-{n}</c> with a per-source counter.
/// </summary>
/// <remarks>Not thread-safe. Deterministic for a given <see cref="SimulatorOptions.Seed"/> and sequence of clock readings.</remarks>
public sealed class DeviceSimulator
{
    private const int HistorySize = 1024;

    private readonly SimulatorOptions _options;
    private readonly Random _random;
    private readonly string[] _sources;
    private readonly long[] _nextId;
    private readonly Channel[] _channels; // [source * metrics + metric]
    private readonly AnalyticsEvent[] _history = new AnalyticsEvent[HistorySize];
    private long _historyCount;
    private long _position;

    public DeviceSimulator(SimulatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        Seed = options.Seed ?? Random.Shared.Next();
        _random = new Random(Seed);

        int metrics = options.Metrics.Count;
        _sources = new string[options.Sources];
        _nextId = new long[options.Sources];
        _channels = new Channel[options.Sources * metrics];
        for (int s = 0; s < options.Sources; s++)
        {
            _sources[s] = options.SourcePrefix + s.ToString(CultureInfo.InvariantCulture);
            for (int m = 0; m < metrics; m++)
            {
                _channels[s * metrics + m] = Channel.Create(options.Metrics[m], _random);
            }
        }
    }

    /// <summary>The seed in use (the given one, or the one drawn).</summary>
    public int Seed { get; }

    /// <summary>Events made so far, duplicates included.</summary>
    public long Generated { get; private set; }

    /// <summary>Events that repeated an earlier one.</summary>
    public long Duplicates { get; private set; }

    /// <summary>Events stamped in the past on purpose.</summary>
    public long Late { get; private set; }

    /// <summary>The next event, stamped relative to <paramref name="nowMs"/> (Unix epoch milliseconds).</summary>
    public AnalyticsEvent Next(long nowMs)
    {
        Generated++;
        if (_options.DuplicateFraction > 0 && _historyCount > 0 && _random.NextDouble() < _options.DuplicateFraction)
        {
            Duplicates++;
            long available = Math.Min(_historyCount, HistorySize);
            return _history[(int)((_historyCount - 1 - _random.NextInt64(available)) % HistorySize)];
        }

        int metrics = _options.Metrics.Count;
        int pair = (int)(_position++ % _channels.Length);
        int source = pair / metrics;
        Channel channel = _channels[pair];

        long timestamp = nowMs;
        if (_options.Jitter > TimeSpan.Zero)
        {
            timestamp += (long)((_random.NextDouble() * 2 - 1) * _options.Jitter.TotalMilliseconds);
        }

        if (_options.LateFraction > 0 && _random.NextDouble() < _options.LateFraction)
        {
            Late++;
            timestamp = nowMs - 1 - (long)(_random.NextDouble() * Math.Max(1, _options.LateBy.TotalMilliseconds - 1));
        }

        double value = channel.Read(timestamp, _random);
        string id = string.Create(CultureInfo.InvariantCulture, $"{_sources[source]}-{_nextId[source]++:D6}");
        var e = new AnalyticsEvent(_sources[source], channel.Metric, value, Math.Max(0, timestamp), id);
        _history[_historyCount++ % HistorySize] = e;
        return e;
    }

    /// <summary>Fills <paramref name="batch"/> with the next events.</summary>
    public void Fill(Span<AnalyticsEvent> batch, long nowMs)
    {
        for (int i = 0; i < batch.Length; i++)
        {
            batch[i] = Next(nowMs);
        }
    }

    /// <summary>One device's one metric: baseline + drift + swing + noise, clamped to the metric's range.</summary>
    private sealed class Channel
    {
        private double _drift;

        private Channel(string metric, double baseline, double noise, double driftStep, double swing, double periodMs, double phase, double min, double max)
        {
            Metric = metric;
            Baseline = baseline;
            Noise = noise;
            DriftStep = driftStep;
            Swing = swing;
            PeriodMs = periodMs;
            Phase = phase;
            Min = min;
            Max = max;
        }

        public string Metric { get; }

        private double Baseline { get; }

        private double Noise { get; }

        private double DriftStep { get; }

        private double Swing { get; }

        private double PeriodMs { get; }

        private double Phase { get; }

        private double Min { get; }

        private double Max { get; }

        public static Channel Create(string metric, Random random)
        {
            double period = TimeSpan.FromMinutes(10 + random.NextDouble() * 50).TotalMilliseconds;
            double phase = random.NextDouble() * 2 * Math.PI;
            return metric.ToLowerInvariant() switch
            {
                // Indoor and outdoor sensors in °C.
                "temperature" or "temp" => new Channel(metric, Gaussian(random, 21, 4), 0.15, 0.02, 1 + random.NextDouble() * 2, period, phase, -40, 85),

                // Relative humidity in %.
                "humidity" => new Channel(metric, 35 + random.NextDouble() * 30, 0.6, 0.05, 2 + random.NextDouble() * 4, period, phase, 0, 100),

                // Barometric pressure in hPa.
                "pressure" => new Channel(metric, Gaussian(random, 1013, 6), 0.2, 0.03, 0.5 + random.NextDouble(), period, phase, 870, 1085),

                // Anything else: a positive level with proportionate noise.
                _ => Generic(metric, random, period, phase),
            };
        }

        private static Channel Generic(string metric, Random random, double period, double phase)
        {
            double baseline = 10 + random.NextDouble() * 90;
            return new Channel(metric, baseline, baseline * 0.02, baseline * 0.002, baseline * 0.05, period, phase, 0, double.MaxValue);
        }

        public double Read(long timestampMs, Random random)
        {
            // Drift is a random walk pulled gently back to the baseline, so it wanders but stays plausible.
            _drift = _drift * 0.995 + Gaussian(random, 0, DriftStep);
            double swing = Swing * Math.Sin(2 * Math.PI * (timestampMs % (long)PeriodMs) / PeriodMs + Phase);
            double value = Baseline + _drift + swing + Gaussian(random, 0, Noise);
            return Math.Round(Math.Clamp(value, Min, Max), 2);
        }

        private static double Gaussian(Random random, double mean, double sd)
        {
            // Box–Muller.
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            return mean + sd * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        }
    }
}
