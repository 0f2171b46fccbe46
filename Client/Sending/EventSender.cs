using System.Threading.Channels;
using Analytics.Events;

namespace Analytics.Client.Sending;

/// <summary>How fast and how much <see cref="EventSender"/> sends.</summary>
public sealed class SendOptions
{
    /// <summary>Target events per second.</summary>
    public double Rate { get; init; } = 1000;

    /// <summary>Stop after this many events. Null: no limit.</summary>
    public long? Count { get; init; }

    /// <summary>
    /// Send for this long: <c>Rate × Duration</c> events, paced over the duration. Null: no limit.
    /// With <see cref="Count"/> too, the smaller limit wins.
    /// </summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Most events in one batch (one POST).</summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>Most batches in flight at once.</summary>
    public int Concurrency { get; init; } = 4;

    /// <summary>
    /// A batch is sent when full, or when events have waited this long, so that a low rate still
    /// delivers steadily instead of waiting to fill a large batch.
    /// </summary>
    public TimeSpan MaxLinger { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The number of events this run will send (<see cref="long.MaxValue"/> when unlimited).</summary>
    public long Limit
    {
        get
        {
            long limit = Count ?? long.MaxValue;
            if (Duration is { } duration)
            {
                limit = Math.Min(limit, (long)Math.Floor(Rate * duration.TotalSeconds));
            }

            return limit;
        }
    }

    public void Validate()
    {
        if (!(Rate > 0) || double.IsInfinity(Rate))
        {
            throw new ArgumentOutOfRangeException(nameof(Rate), Rate, "The rate must be a positive number of events per second.");
        }

        if (Count is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Count), Count, "The count must be at least 1.");
        }

        if (Duration is { } d && d <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Duration), Duration, "The duration must be positive.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MaxLinger, TimeSpan.Zero);
    }
}

/// <summary>A consistent reading of a run's counters.</summary>
public readonly record struct SendProgress(
    long Generated,
    long Sent,
    long Accepted,
    long Rejected,
    long Batches,
    long Limit,
    TimeSpan Elapsed)
{
    /// <summary>Events confirmed by the sink per second of elapsed time.</summary>
    public double AchievedRate => Elapsed > TimeSpan.Zero ? Sent / Elapsed.TotalSeconds : 0;
}

/// <summary>How a run ended.</summary>
public sealed record SendSummary(
    SendProgress Progress,
    long Duplicates,
    long Late,
    bool Interrupted,
    bool BehindSchedule,
    Exception? Failure,
    IReadOnlyList<string> SampleErrors);

/// <summary>
/// Sends simulated events to a sink at a steady rate.
/// </summary>
/// <remarks>
/// Pacing is a token bucket on elapsed time: by time <c>t</c>, <c>floor(Rate × t)</c> events are
/// due, and the sender makes exactly the due events, in batches of up to
/// <see cref="SendOptions.BatchSize"/>. It never sleeps per event, so timer granularity and
/// time spent sending do not add up to drift: whatever falls behind is caught up by the next
/// batches. Batches go to the sink through a bounded queue served by
/// <see cref="SendOptions.Concurrency"/> workers; when the sink is slower than the rate, the queue
/// fills, the producer waits, and the achieved rate shows it. Cancelling stops making events;
/// batches already handed to the sink finish, so the summary counts what was really delivered.
/// </remarks>
public sealed class EventSender
{
    private const int MaxSampleErrors = 5;

    private readonly IEventSink _sink;
    private readonly DeviceSimulator _simulator;
    private readonly SendOptions _options;
    private readonly ISendClock _clock;
    private readonly List<string> _sampleErrors = [];
    private long _generated;
    private long _sent;
    private long _accepted;
    private long _rejected;
    private long _batches;
    private TimeSpan? _finishedAt;

    public EventSender(IEventSink sink, DeviceSimulator simulator, SendOptions options, ISendClock? clock = null)
    {
        _sink = sink ?? throw new ArgumentNullException(nameof(sink));
        _simulator = simulator ?? throw new ArgumentNullException(nameof(simulator));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _options.Validate();
        _clock = clock ?? new SystemSendClock();
    }

    /// <summary>The counters now; safe to call from another thread while the run goes on.</summary>
    public SendProgress Progress => new(
        Interlocked.Read(ref _generated),
        Interlocked.Read(ref _sent),
        Interlocked.Read(ref _accepted),
        Interlocked.Read(ref _rejected),
        Interlocked.Read(ref _batches),
        _options.Limit,
        _finishedAt ?? _clock.Elapsed);

    /// <summary>Sends until the limit is reached, the sink fails, or <paramref name="stop"/> is cancelled.</summary>
    public async Task<SendSummary> RunAsync(CancellationToken stop = default)
    {
        long limit = _options.Limit;
        var queue = Channel.CreateBounded<AnalyticsEvent[]>(new BoundedChannelOptions(_options.Concurrency)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

        // A failing sink stops the producer, but not through the caller's token.
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(stop);
        Exception? failure = null;
        var workers = new Task[_options.Concurrency];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(async () =>
            {
                await foreach (AnalyticsEvent[] batch in queue.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    if (Volatile.Read(ref failure) is not null)
                    {
                        continue; // drain without sending once the run has failed
                    }

                    try
                    {
                        IngestResult result = await _sink.SendAsync(batch, CancellationToken.None).ConfigureAwait(false);
                        Record(batch.Length, result);
                    }
                    catch (Exception ex)
                    {
                        Interlocked.CompareExchange(ref failure, ex, null);
                        await failed.CancelAsync().ConfigureAwait(false);
                    }
                }
            }, CancellationToken.None);
        }

        bool behind = false;
        try
        {
            behind = await ProduceAsync(queue.Writer, limit, failed.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (failed.IsCancellationRequested)
        {
            // Interrupted or failed: reported below.
        }
        finally
        {
            queue.Writer.TryComplete();
            await Task.WhenAll(workers).ConfigureAwait(false);
            _finishedAt = _clock.Elapsed;
        }

        lock (_sampleErrors)
        {
            return new SendSummary(
                Progress,
                _simulator.Duplicates,
                _simulator.Late,
                Interrupted: stop.IsCancellationRequested && failure is null,
                BehindSchedule: behind,
                failure,
                [.. _sampleErrors]);
        }
    }

    /// <summary>Makes the due events in batches; returns true if it stopped behind schedule.</summary>
    private async Task<bool> ProduceAsync(ChannelWriter<AnalyticsEvent[]> queue, long limit, CancellationToken token)
    {
        double rate = _options.Rate;
        int batchSize = _options.BatchSize;
        TimeSpan linger = _options.MaxLinger;
        TimeSpan lastFlush = TimeSpan.Zero;
        long generated = 0;

        while (generated < limit)
        {
            token.ThrowIfCancellationRequested();
            TimeSpan now = _clock.Elapsed;
            long remaining = limit - generated;

            if (_options.Duration is { } duration && now >= duration && remaining > Math.Max(batchSize, (long)rate))
            {
                // Time is up and more than a second of events is still owed: the sink could not
                // keep up, so stop rather than run on past the duration.
                return true;
            }

            long dueTotal = (long)Math.Min(Math.Floor(rate * now.TotalSeconds), limit);
            long due = dueTotal - generated;
            bool full = due >= batchSize;
            bool last = due > 0 && due >= remaining;
            bool stale = due > 0 && now - lastFlush >= linger;
            if (full || last || stale)
            {
                int n = (int)Math.Min(due, batchSize);
                var batch = new AnalyticsEvent[n];
                _simulator.Fill(batch, _clock.UtcNowMs);
                generated += n;
                Interlocked.Add(ref _generated, n);
                lastFlush = now;
                await queue.WriteAsync(batch, token).ConfigureAwait(false);
                continue;
            }

            // Sleep until a full batch is due, or the oldest due event would wait too long,
            // whichever is first; at least until the next event is due at all.
            long fullAt = generated + Math.Min(batchSize, remaining);
            TimeSpan whenFull = TimeSpan.FromSeconds(fullAt / rate);
            TimeSpan firstDue = TimeSpan.FromSeconds((generated + 1) / rate);
            TimeSpan whenStale = lastFlush + linger > firstDue ? lastFlush + linger : firstDue;
            TimeSpan next = whenFull < whenStale ? whenFull : whenStale;
            TimeSpan wait = next - now;
            if (wait < TimeSpan.FromMilliseconds(1))
            {
                wait = TimeSpan.FromMilliseconds(1);
            }

            await _clock.DelayAsync(wait, token).ConfigureAwait(false);
        }

        return false;
    }

    private void Record(int count, IngestResult result)
    {
        Interlocked.Add(ref _sent, count);
        Interlocked.Add(ref _accepted, result.Accepted);
        Interlocked.Add(ref _rejected, result.Rejected);
        Interlocked.Increment(ref _batches);
        if (result.Errors.Count > 0)
        {
            lock (_sampleErrors)
            {
                foreach (IngestError error in result.Errors)
                {
                    if (_sampleErrors.Count >= MaxSampleErrors)
                    {
                        break;
                    }

                    if (!_sampleErrors.Contains(error.Error))
                    {
                        _sampleErrors.Add(error.Error);
                    }
                }
            }
        }
    }
}
