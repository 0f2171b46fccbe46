using System.Net;

namespace Analytics.Client.Replay;

/// <summary>How a replay posts its batches.</summary>
public sealed class ReplayOptions
{
    /// <summary>Most events in one POST.</summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>
    /// Most bytes in one POST. Kept under the server's default body limit (5 MiB); a batch that
    /// is refused as too large anyway is split in halves and sent again.
    /// </summary>
    public long MaxBatchBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Most rejected lines kept for the report (all are counted).</summary>
    public int MaxRejectionsKept { get; init; } = 100_000;
}

/// <summary>A replay's counters, safe to read while it runs.</summary>
public readonly record struct ReplayProgress(long Sent, long Accepted, long Rejected, long Batches, long BytesRead, long LinesRead, long? Length, TimeSpan Elapsed)
{
    /// <summary>0–1 through the file, when its size is known.</summary>
    public double? Fraction => Length is > 0 ? Math.Clamp((double)BytesRead / Length.Value, 0, 1) : null;
}

/// <summary>
/// The rejected events of a batch the server did not itemise: it lists at most 100 errors per
/// request, so the rest are known only as a count within a range of lines.
/// </summary>
public readonly record struct UnlistedRejections(long Count, long FirstLine, long LastLine);

/// <summary>How a replay ended.</summary>
public sealed record ReplaySummary(
    ReplayProgress Progress,
    IReadOnlyList<ReplayRejection> Rejections,
    IReadOnlyList<UnlistedRejections> Unlisted,
    bool Interrupted);

/// <summary>Replays a file somewhere: the HTTP API (<see cref="ReplayRunner"/>) or a Kinesis stream.</summary>
public interface IReplayRunner
{
    /// <summary>The counters now; safe to read while the replay runs.</summary>
    ReplayProgress Progress { get; }

    /// <summary>Replays the whole file; cancelling stops before the next batch.</summary>
    Task<ReplaySummary> RunAsync(CancellationToken stop = default);
}

/// <summary>
/// Posts the events of a <see cref="ReplayReader"/> in batches and maps the server's rejections
/// (error index <c>i</c> of a batch) back to the file's line numbers.
/// </summary>
/// <remarks>
/// A batch refused as a whole (<c>413</c> too large, or <c>400</c> unreadable) is split in
/// halves, each sent on its own, down to single events; a single event refused that way is
/// reported as a rejected line with the server's message. So one bad or oversized event never
/// costs its neighbours.
/// </remarks>
public sealed class ReplayRunner : ReplayRunnerBase
{
    private readonly AnalyticsHttpClient _client;
    private long _sent;
    private long _accepted;
    private long _batches;

    public ReplayRunner(AnalyticsHttpClient client, ReplayReader reader, ReplayOptions? options = null)
        : base(reader, options ?? new ReplayOptions())
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
    }

    public override ReplayProgress Progress => new(
        Interlocked.Read(ref _sent),
        Interlocked.Read(ref _accepted),
        Rejected,
        Interlocked.Read(ref _batches),
        Reader.BytesRead,
        Reader.LinesRead,
        Reader.Length,
        Clock.Elapsed);

    protected override Task SendAsync(List<ReplayItem> batch) => PostAsync(batch, 0, batch.Count);

    private async Task PostAsync(List<ReplayItem> batch, int offset, int count)
    {
        byte[] body = Join(batch, offset, count);
        IngestResult result;
        try
        {
            // Not cancelled by an interrupt: a batch once started is let finish, so the counts are true.
            result = await _client.IngestAsync(body, IngestFormat.Ndjson, CancellationToken.None).ConfigureAwait(false);
        }
        catch (AnalyticsIngestException ex) when (ex.StatusCode is HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.BadRequest)
        {
            if (count == 1)
            {
                Interlocked.Increment(ref _sent);
                Interlocked.Increment(ref _batches);
                Reject(batch[offset].Line, ex.Error);
                return;
            }

            int half = count / 2;
            await PostAsync(batch, offset, half).ConfigureAwait(false);
            await PostAsync(batch, offset + half, count - half).ConfigureAwait(false);
            return;
        }

        Interlocked.Add(ref _sent, count);
        Interlocked.Add(ref _accepted, result.Accepted);
        Interlocked.Increment(ref _batches);
        foreach (IngestError error in result.Errors)
        {
            long line = error.Index >= 0 && error.Index < count ? batch[offset + error.Index].Line : -1;
            Reject(line, error.Error, count: false);
        }

        AddRejected(result.Rejected);
        long unlisted = result.Rejected - result.Errors.Count;
        if (unlisted > 0)
        {
            AddUnlisted(new UnlistedRejections(unlisted, batch[offset].Line, batch[offset + count - 1].Line));
        }
    }

    private static byte[] Join(List<ReplayItem> batch, int offset, int count)
    {
        int size = 0;
        for (int i = offset; i < offset + count; i++)
        {
            size += batch[i].Json.Length + 1;
        }

        byte[] body = new byte[size];
        int at = 0;
        for (int i = offset; i < offset + count; i++)
        {
            batch[i].Json.Span.CopyTo(body.AsSpan(at));
            at += batch[i].Json.Length;
            body[at++] = (byte)'\n';
        }

        return body;
    }
}
