namespace Analytics.Client;

/// <summary>Settings of <see cref="AnalyticsHttpClient"/>.</summary>
public sealed class AnalyticsClientOptions
{
    /// <summary>The default address of a silo's HTTP API (the contract's <c>Http:Port</c> default).</summary>
    public static readonly Uri DefaultBaseAddress = new("http://localhost:5080/");

    /// <summary>The silo to talk to. Any silo of a cluster serves the whole API.</summary>
    public Uri BaseAddress { get; set; } = DefaultBaseAddress;

    /// <summary>
    /// How many times a request is tried again after a failure that may pass (see
    /// <see cref="AnalyticsHttpClient"/> for which failures of which requests). 0 turns retries off.
    /// </summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>The wait before the first retry; each further retry waits twice as long (with jitter).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long one attempt may take before it is abandoned.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for a connection to open before the attempt fails.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(BaseAddress);
        if (!BaseAddress.IsAbsoluteUri || (BaseAddress.Scheme != Uri.UriSchemeHttp && BaseAddress.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"The base address must be an absolute http or https URL, not '{BaseAddress}'.", nameof(BaseAddress));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetries);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero);
    }
}
