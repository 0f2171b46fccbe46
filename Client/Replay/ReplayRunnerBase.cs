using System.Diagnostics;

namespace Analytics.Client.Replay;

/// <summary>
/// The part of a replay that does not depend on where the events go: read the file in batches,
/// hand each batch on, and keep the rejected lines for the report. The HTTP and the Kinesis
/// runners differ only in how they send a batch and what they count as accepted.
/// </summary>
public abstract class ReplayRunnerBase : IReplayRunner
{
    private readonly List<ReplayRejection> _rejections = [];
    private readonly List<UnlistedRejections> _unlisted = [];
    private long _rejected;

    protected ReplayRunnerBase(ReplayReader reader, ReplayOptions options)
    {
        Reader = reader ?? throw new ArgumentNullException(nameof(reader));
        Options = options ?? throw new ArgumentNullException(nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(Options.MaxBatchBytes, 1);
    }

    protected ReplayReader Reader { get; }

    protected ReplayOptions Options { get; }

    protected Stopwatch Clock { get; } = new();

    protected long Rejected => Interlocked.Read(ref _rejected);

    public abstract ReplayProgress Progress { get; }

    /// <summary>
    /// Replays the whole file. Cancelling stops before the next batch (the batch in flight
    /// finishes, so the counts are true). Throws <see cref="ReplayFormatException"/> when the
    /// file's structure breaks, and the sink's own exceptions when it cannot be written.
    /// </summary>
    public async Task<ReplaySummary> RunAsync(CancellationToken stop = default)
    {
        Clock.Start();
        try
        {
            var found = new List<ReplayRejection>();
            while (!stop.IsCancellationRequested)
            {
                List<ReplayItem> batch = await Reader.ReadBatchAsync(Options.BatchSize, Options.MaxBatchBytes, found, stop).ConfigureAwait(false);
                foreach (ReplayRejection r in found)
                {
                    Reject(r.Line, r.Error);
                }

                found.Clear();
                if (batch.Count == 0)
                {
                    break;
                }

                await SendAsync(batch).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Interrupted while reading: reported below.
        }
        finally
        {
            Clock.Stop();
        }

        lock (_rejections)
        {
            return new ReplaySummary(Progress, [.. _rejections.OrderBy(r => r.Line)], [.. _unlisted], stop.IsCancellationRequested);
        }
    }

    /// <summary>Sends one batch of the file's events; not cancelled by an interrupt.</summary>
    protected abstract Task SendAsync(List<ReplayItem> batch);

    /// <summary>Keeps a rejected line for the report; <paramref name="count"/> is false when the sink already counted it.</summary>
    protected void Reject(long line, string error, bool count = true)
    {
        if (count)
        {
            Interlocked.Increment(ref _rejected);
        }

        lock (_rejections)
        {
            if (_rejections.Count < Options.MaxRejectionsKept)
            {
                _rejections.Add(new ReplayRejection(line, error));
            }
        }
    }

    /// <summary>Counts rejections the sink reported only as a number.</summary>
    protected void AddRejected(long count) => Interlocked.Add(ref _rejected, count);

    protected void AddUnlisted(UnlistedRejections unlisted)
    {
        lock (_rejections)
        {
            _unlisted.Add(unlisted);
        }
    }
}
