namespace Analytics.Aws.Kinesis;

/// <summary>
/// Exponential backoff with full jitter, capped. Our Kinesis calls bypass the SDK's pipeline (there
/// is no AWSSDK.Kinesis to carry it), so its retry handler does not run for them and this stands in
/// for it: the n-th retry waits a uniformly random time in [0, min(MaxDelay, BaseDelay * 2^(n-1))].
/// Full jitter spreads silos that were throttled together so they do not come back in step.
/// </summary>
public sealed class KinesisRetryPolicy
{
    private readonly Random _random;

    public KinesisRetryPolicy(int maxAttempts, TimeSpan baseDelay, TimeSpan maxDelay, Random? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAttempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(baseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDelay, baseDelay);
        MaxAttempts = maxAttempts;
        BaseDelay = baseDelay;
        MaxDelay = maxDelay;
        _random = random ?? Random.Shared;
    }

    public static KinesisRetryPolicy From(KinesisClientOptions options) =>
        new(options.MaxAttempts, options.BaseRetryDelay, options.MaxRetryDelay);

    public int MaxAttempts { get; }

    public TimeSpan BaseDelay { get; }

    public TimeSpan MaxDelay { get; }

    /// <summary>The largest wait before retry number <paramref name="retry"/> (1 for the first retry).</summary>
    public TimeSpan Ceiling(int retry)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);

        // Past 2^30 the product is beyond any sensible cap anyway; stop doubling before it overflows.
        var factor = Math.Pow(2, Math.Min(retry - 1, 30));
        var ticks = Math.Min(MaxDelay.Ticks, BaseDelay.Ticks * factor);
        return TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The wait before retry number <paramref name="retry"/>: random in [0, Ceiling(retry)].</summary>
    public TimeSpan Delay(int retry)
    {
        var ceiling = Ceiling(retry);
        lock (_random)
        {
            return TimeSpan.FromTicks((long)(_random.NextDouble() * ceiling.Ticks));
        }
    }

    /// <summary>Whether a failure of attempt <paramref name="attempt"/> (1-based) should be tried again.</summary>
    public bool ShouldRetry(Exception exception, int attempt, CancellationToken cancellationToken) =>
        attempt < MaxAttempts && !cancellationToken.IsCancellationRequested && IsTransient(exception);

    /// <summary>Throttling and 5xx answers, and failures to get any answer (connection refused or reset, attempt timeout).</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        KinesisException kinesis => kinesis.IsRetryable,
        HttpRequestException => true,
        KinesisAttemptTimeoutException => true,
        IOException => true,
        _ => false,
    };
}

/// <summary>One attempt took longer than <see cref="KinesisClientOptions.RequestTimeout"/>; the caller did not cancel.</summary>
public sealed class KinesisAttemptTimeoutException(string action, TimeSpan timeout)
    : TimeoutException($"Kinesis {action} got no answer within {timeout.TotalSeconds:0.#} s.");
