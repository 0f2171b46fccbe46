using Analytics.Events;
using Analytics.Silo.Ingest;

namespace Analytics.Silo.Simulation;

public sealed class SimulatorOptions
{
    public int Devices { get; set; } = 50;

    public int EventsPerSecond { get; set; } = 200;
}

/// <summary>
/// With --simulate, the silo feeds itself plausible device readings through the same ingest path
/// as POST /api/events: each device has its own baseline that drifts slowly, plus noise.
/// </summary>
public sealed partial class DeviceSimulator(EventIngestor ingestor, IHostApplicationLifetime lifetime, SimulatorOptions options, TimeProvider time, ILogger<DeviceSimulator> logger) : BackgroundService
{
    private static readonly (string Metric, double Baseline, double Spread, double Noise)[] Metrics =
    [
        ("temperature", 21, 4, 0.3),
        ("humidity", 45, 15, 1.5),
        ("pressure", 1013, 8, 0.4),
        ("battery", 80, 20, 0.05),
    ];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Feed the silo only once it serves: Orleans and the HTTP API are both up then.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(stoppingToken);
        }
        LogStarted(logger, options.Devices, options.EventsPerSecond);
        var random = new Random(42);
        var baselines = Enumerable.Range(0, options.Devices).Select(_ => Metrics.Select(m => m.Baseline + (random.NextDouble() - 0.5) * m.Spread).ToArray()).ToArray();
        var sequence = 0L;
        var tick = TimeSpan.FromMilliseconds(100);
        var perTick = Math.Max(1, options.EventsPerSecond / 10);
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            var events = new List<AnalyticsEvent>(perTick);
            for (var i = 0; i < perTick; i++)
            {
                var device = random.Next(options.Devices);
                var m = random.Next(Metrics.Length);
                baselines[device][m] += (random.NextDouble() - 0.5) * Metrics[m].Noise * 0.1;
                var value = Math.Round(baselines[device][m] + (random.NextDouble() - 0.5) * 2 * Metrics[m].Noise, 2);
                events.Add(new AnalyticsEvent($"dev-{device:D3}", Metrics[m].Metric, value, now - random.Next(0, 2000), $"sim-{sequence++}"));
            }

            try
            {
                await ingestor.AppendAsync(events, stoppingToken);
                await Task.Delay(tick, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Simulating {Devices} devices at {Rate} events/s")]
    private static partial void LogStarted(ILogger logger, int devices, int rate);
}
