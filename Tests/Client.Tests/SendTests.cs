using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Analytics.Client.Cli;
using Analytics.Client.Sending;
using Analytics.Events;

namespace Analytics.Client.Tests;

public sealed class SimulatorTests
{
    private const long Now = 1_795_000_000_000;

    [Fact]
    public void The_same_seed_gives_the_same_events()
    {
        var options = new SimulatorOptions { Seed = 42, Sources = 7, DuplicateFraction = 0.1, LateFraction = 0.1, Jitter = TimeSpan.FromSeconds(2) };
        var a = new DeviceSimulator(options);
        var b = new DeviceSimulator(options);
        var c = new DeviceSimulator(new SimulatorOptions { Seed = 43, Sources = 7 });

        AnalyticsEvent[] first = Enumerable.Range(0, 2000).Select(i => a.Next(Now + i)).ToArray();
        AnalyticsEvent[] second = Enumerable.Range(0, 2000).Select(i => b.Next(Now + i)).ToArray();
        AnalyticsEvent[] other = Enumerable.Range(0, 2000).Select(i => c.Next(Now + i)).ToArray();

        Assert.Equal(first, second);
        Assert.NotEqual(first.Select(e => e.Value), other.Select(e => e.Value));
        Assert.Equal(42, a.Seed);
    }

    [Fact]
    public void Devices_report_each_metric_in_turn_with_per_source_ids()
    {
        var simulator = new DeviceSimulator(new SimulatorOptions { Seed = 1, Sources = 2 });

        AnalyticsEvent[] events = Enumerable.Range(0, 8).Select(_ => simulator.Next(Now)).ToArray();

        Assert.Equal(
            ["dev-0-000000", "dev-0-000001", "dev-0-000002", "dev-1-000000", "dev-1-000001", "dev-1-000002", "dev-0-000003", "dev-0-000004"],
            events.Select(e => e.Id));
        Assert.Equal(["temperature", "humidity", "pressure", "temperature"], events.Take(4).Select(e => e.Metric));
        Assert.All(events, e => Assert.Equal(Now, e.Timestamp));
        Assert.All(events, e => Assert.Null(Names.ValidateId(e.Id)));
    }

    [Fact]
    public void Values_are_plausible_sensor_readings()
    {
        var simulator = new DeviceSimulator(new SimulatorOptions { Seed = 5, Sources = 50, Metrics = ["temperature", "humidity", "pressure", "cpu"] });

        AnalyticsEvent[] events = Enumerable.Range(0, 40_000).Select(i => simulator.Next(Now + i * 100L)).ToArray();

        Assert.All(events.Where(e => e.Metric == "temperature"), e => Assert.InRange(e.Value, -10, 50));
        Assert.All(events.Where(e => e.Metric == "humidity"), e => Assert.InRange(e.Value, 0, 100));
        Assert.All(events.Where(e => e.Metric == "pressure"), e => Assert.InRange(e.Value, 950, 1080));
        Assert.All(events.Where(e => e.Metric == "cpu"), e => Assert.InRange(e.Value, 0, 200));

        // Each device has its own baseline, and its readings move smoothly (noise + drift, not white noise).
        var temperature = events.Where(e => e.Metric == "temperature").GroupBy(e => e.Source).ToList();
        double[] means = temperature.Select(g => g.Average(e => e.Value)).ToArray();
        Assert.True(means.Max() - means.Min() > 2, "sources should differ in baseline");
        foreach (var source in temperature)
        {
            double[] values = source.Select(e => e.Value).ToArray();
            double largestStep = values.Zip(values.Skip(1), (x, y) => Math.Abs(y - x)).Max();
            Assert.True(largestStep < 3, $"{source.Key} jumps by {largestStep}");
        }
    }

    [Fact]
    public void Duplicates_resend_earlier_events_and_late_events_are_in_the_past()
    {
        var simulator = new DeviceSimulator(new SimulatorOptions
        {
            Seed = 9,
            DuplicateFraction = 0.2,
            LateFraction = 0.3,
            LateBy = TimeSpan.FromMinutes(10),
        });

        AnalyticsEvent[] events = Enumerable.Range(0, 10_000).Select(_ => simulator.Next(Now)).ToArray();

        Assert.InRange(simulator.Duplicates, 1700, 2300);
        Assert.Equal(10_000 - simulator.Duplicates, events.Select(e => (e.Source, e.Id)).Distinct().Count());
        AnalyticsEvent[] late = events.Where(e => e.Timestamp < Now).Distinct().ToArray();
        Assert.Equal(simulator.Late, late.Length);
        Assert.InRange(simulator.Late, 2000, 2800); // 30% of the non-duplicates
        Assert.All(late, e => Assert.InRange(e.Timestamp, Now - 600_000, Now - 1));
    }

    [Fact]
    public void Invalid_options_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceSimulator(new SimulatorOptions { Sources = 0 }));
        Assert.Throws<ArgumentException>(() => new DeviceSimulator(new SimulatorOptions { Metrics = ["bad name"] }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceSimulator(new SimulatorOptions { DuplicateFraction = 1.5 }));
    }
}

public sealed class SenderTests
{
    [Fact]
    public async Task Rate_2000_for_1s_sends_2000_events_paced_over_the_second()
    {
        var clock = new ManualSendClock();
        var sink = new RecordingSink(clock);
        var sender = new EventSender(sink, new DeviceSimulator(new SimulatorOptions { Seed = 1 }),
            new SendOptions { Rate = 2000, Duration = TimeSpan.FromSeconds(1), BatchSize = 100 }, clock);

        SendSummary summary = await sender.RunAsync();

        Assert.Equal(2000, sink.Count);
        Assert.Equal(2000, summary.Progress.Sent);
        Assert.Equal(2000, summary.Progress.Accepted);
        Assert.False(summary.Interrupted);
        Assert.False(summary.BehindSchedule);
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.99, 1.01);
        Assert.All(sink.Batches, b => Assert.InRange(b.Size, 1, 100));

        // Never ahead of the schedule: by time t at most rate × t events have been handed over.
        long total = 0;
        foreach ((int size, TimeSpan at) in sink.Batches)
        {
            total += size;
            Assert.True(total <= 2000 * at.TotalSeconds + 1e-6, $"{total} events by {at.TotalMilliseconds} ms");
        }
    }

    [Fact]
    public async Task A_low_rate_sends_partial_batches_instead_of_waiting_to_fill_them()
    {
        var clock = new ManualSendClock();
        var sink = new RecordingSink(clock);
        var sender = new EventSender(sink, new DeviceSimulator(new SimulatorOptions { Seed = 1 }),
            // One worker: with several, the three batches may reach the sink in any order.
            new SendOptions { Rate = 10, Count = 25, BatchSize = 500, MaxLinger = TimeSpan.FromSeconds(1), Concurrency = 1 }, clock);

        await sender.RunAsync();

        Assert.Equal([10, 10, 5], sink.Batches.Select(b => b.Size));
        Assert.InRange(clock.Elapsed.TotalSeconds, 2.5, 2.51);
    }

    [Fact]
    public async Task Timestamps_follow_the_clock()
    {
        var clock = new ManualSendClock(startUtcMs: 1_000_000);
        var sink = new RecordingSink(clock);
        var sender = new EventSender(sink, new DeviceSimulator(new SimulatorOptions { Seed = 1 }),
            new SendOptions { Rate = 100, Count = 300, BatchSize = 100, Concurrency = 1 }, clock);

        await sender.RunAsync();

        Assert.Equal([1_001_000L, 1_002_000L, 1_003_000L], sink.Events.Chunk(100).Select(c => c.Max(e => e.Timestamp)));
    }

    [Fact]
    public async Task A_failing_sink_stops_the_run_and_is_reported()
    {
        var clock = new ManualSendClock();
        var sink = new RecordingSink(clock) { FailAfter = 3 };
        var sender = new EventSender(sink, new DeviceSimulator(new SimulatorOptions { Seed = 1 }),
            new SendOptions { Rate = 1000, BatchSize = 10, Concurrency = 1 }, clock);

        SendSummary summary = await sender.RunAsync();

        Assert.IsType<HttpRequestException>(summary.Failure);
        Assert.Equal(30, summary.Progress.Sent);
        Assert.False(summary.Interrupted);
    }

    [Fact]
    public async Task Cancelling_stops_cleanly_and_counts_what_was_delivered()
    {
        var clock = new ManualSendClock();
        using var stop = new CancellationTokenSource();
        var sink = new RecordingSink(clock) { OnBatch = n => { if (n == 5) { stop.Cancel(); } } };
        var sender = new EventSender(sink, new DeviceSimulator(new SimulatorOptions { Seed = 1 }),
            new SendOptions { Rate = 1000, BatchSize = 10, Concurrency = 1 }, clock);

        SendSummary summary = await sender.RunAsync(stop.Token);

        Assert.True(summary.Interrupted);
        Assert.Null(summary.Failure);
        Assert.Equal(sink.Count, summary.Progress.Sent);
        Assert.InRange(summary.Progress.Sent, 50, 70);
    }

    /// <summary>Records batches and the clock time they arrived at; answers as if all were accepted.</summary>
    internal sealed class RecordingSink(ISendClock clock) : IEventSink
    {
        private readonly ConcurrentQueue<(int Size, TimeSpan At)> _batches = new();
        private readonly ConcurrentQueue<AnalyticsEvent> _events = new();
        private int _calls;

        public int? FailAfter { get; init; }

        public Action<int>? OnBatch { get; init; }

        public string Description => "recording sink";

        public IReadOnlyList<(int Size, TimeSpan At)> Batches => [.. _batches];

        public IReadOnlyList<AnalyticsEvent> Events => [.. _events];

        public long Count => _batches.Sum(b => b.Size);

        public Task<IngestResult> SendAsync(IReadOnlyList<AnalyticsEvent> batch, CancellationToken cancellationToken)
        {
            int call = Interlocked.Increment(ref _calls);
            if (call > FailAfter)
            {
                throw new HttpRequestException("the sink is down");
            }

            _batches.Enqueue((batch.Count, clock.Elapsed));
            foreach (AnalyticsEvent e in batch)
            {
                _events.Enqueue(e);
            }

            OnBatch?.Invoke(call);
            return Task.FromResult(new IngestResult(batch.Count, 0, []));
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

public sealed class CliSendTests : IAsyncLifetime
{
    private FakeSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await FakeSilo.StartAsync();

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Fact]
    public async Task Send_count_posts_exactly_n_events_in_batches()
    {
        CliResult result = await CliHost.RunAsync(
            "send", "--count", "1234", "--batch", "100", "--rate", "100000", "--seed", "7", "--url", _silo.Url.ToString());

        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        int[] sizes = _silo.Posts.Select(p => p.Elements).Order().ToArray();
        Assert.Equal([34, .. Enumerable.Repeat(100, 12)], sizes);
        Assert.Equal(1234, _silo.Events.Count);
        Assert.Equal(1234, _silo.Events.Select(e => e.Id).Distinct().Count());
        Assert.StartsWith("sent 1234 events in ", result.Out);
        Assert.Contains(": 1234 accepted, 0 rejected, 13 batches; 0 duplicates, 0 late; seed 7", result.Out);
        Assert.Contains("sending 1234 events at 100000 events/s", result.Err);
    }

    [Fact]
    public async Task Send_duration_at_a_rate_sends_rate_times_duration_with_a_fake_clock()
    {
        var clock = new ManualSendClock();
        var sink = new SenderTests.RecordingSink(clock);

        CliResult result = await CliHost.RunAsync(
            new CliHost.CliSetup { Clock = () => clock, Sink = _ => sink },
            "send", "--rate", "2000", "--duration", "1s", "--batch", "100", "--seed", "3");

        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        Assert.Equal(2000, sink.Count);
        Assert.Contains("sent 2000 events in 1.00 s (2000 events/s) to recording sink", result.Out);
    }

    [Fact]
    public async Task Send_with_duplicates_reuses_ids()
    {
        CliResult result = await CliHost.RunAsync(
            "send", "--count", "2000", "--rate", "1000000", "--duplicate-fraction", "0.25", "--seed", "11", "--url", _silo.Url.ToString());

        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        Assert.Equal(2000, _silo.Events.Count);
        int distinct = _silo.Events.Select(e => (e.Source, e.Id)).Distinct().Count();
        Assert.InRange(2000 - distinct, 350, 650);
        Assert.Contains($"; {2000 - distinct} duplicates, 0 late; seed 11", result.Out);
    }

    [Fact]
    public async Task Send_reports_rejected_events_with_exit_4()
    {
        // Timestamps up to an hour ahead: the server refuses those more than 5 minutes in the future.
        CliResult result = await CliHost.RunAsync(
            "send", "--count", "200", "--rate", "1000000", "--jitter", "1h", "--seed", "2", "--url", _silo.Url.ToString());

        Assert.Equal(ExitCodes.Rejected, result.ExitCode);
        Assert.Contains("rejected: ", result.Err);
        Assert.Contains("future", result.Err);
    }

    [Fact]
    public async Task Ctrl_c_stops_with_a_summary_and_exit_130()
    {
        using var interrupt = new CancellationTokenSource(TimeSpan.FromMilliseconds(400));

        CliResult result = await CliHost.RunAsync(
            new CliHost.CliSetup { Cancellation = interrupt.Token },
            "send", "--rate", "2000", "--batch", "50", "--url", _silo.Url.ToString());

        Assert.Equal(ExitCodes.Interrupted, result.ExitCode);
        Assert.Contains("(interrupted)", result.Out);
        Assert.Contains("sending events until Ctrl+C", result.Err);
        Assert.Contains($"sent {_silo.Events.Count} events", result.Out);
        Assert.InRange(_silo.Events.Count, 0, 2000);
    }

    [Fact]
    public async Task Send_to_an_unreachable_server_exits_1()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        CliResult result = await CliHost.RunAsync("send", "--count", "10", "--rate", "1000000", "--url", $"http://127.0.0.1:{port}");

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        Assert.Contains("cannot reach the analytics API", result.Err);
        Assert.StartsWith("sent 0 events", result.Out);
    }

    [Theory]
    [InlineData("--rate must be from", "--rate", "0")]
    [InlineData("--metrics: metric 'bad name'", "--metrics", "temperature,bad name")]
    [InlineData("--metrics: name at least one metric", "--metrics", ",")]
    [InlineData("--duration: '5x' has the unit", "--duration", "5x")]
    [InlineData("--count must be at least 1", "--count", "0")]
    [InlineData("--late-fraction must be from 0 to 1", "--late-fraction", "2")]
    [InlineData("--batch must be from", "--batch", "0")]
    [InlineData("less than one event", "--rate", "0.5", "--duration", "1s")]
    public async Task Send_with_bad_arguments_exits_2(string message, params string[] args)
    {
        CliResult result = await CliHost.RunAsync(["send", .. args, "--url", _silo.Url.ToString()]);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains(message, result.Err);
        Assert.Empty(_silo.Requests);
    }

    [Fact]
    public void Progress_line_shows_bar_counts_rate_and_eta()
    {
        string line = SendCommand.Render(new SendProgress(5000, 4000, 3990, 10, 8, 10_000, TimeSpan.FromSeconds(4)), 1000);
        string unbounded = SendCommand.Render(new SendProgress(5000, 4000, 4000, 0, 8, long.MaxValue, TimeSpan.FromSeconds(4)), 1000);

        Assert.Equal("[########------------]  40%  sent 4000/10000  ok 3990  rejected 10  1000/s  ETA 6s", line);
        Assert.Equal("sent 4000  ok 4000  rejected 0  1000/s  elapsed 4s", unbounded);
    }
}
