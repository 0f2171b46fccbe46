using Analytics.Events;

namespace Analytics.Client.Sending;

/// <summary>
/// Where <c>send</c> puts its events. The HTTP API is one sink (<see cref="HttpEventSink"/>);
/// producing straight into the Kinesis stream is meant to be another, behind the same interface.
/// </summary>
/// <remarks>
/// <see cref="SendAsync"/> may be called concurrently (up to the sender's concurrency), and is
/// not cancelled when a run is interrupted: a batch that has been handed over is allowed to
/// finish, so the counts in the summary are what the sink really accepted.
/// </remarks>
public interface IEventSink : IAsyncDisposable
{
    /// <summary>Where the events go, for messages: a URL, a stream name.</summary>
    string Description { get; }

    /// <summary>Delivers one batch; throws when the batch as a whole failed.</summary>
    Task<IngestResult> SendAsync(IReadOnlyList<AnalyticsEvent> batch, CancellationToken cancellationToken);
}

/// <summary>Posts batches to <c>POST /api/events</c> of one silo.</summary>
public sealed class HttpEventSink : IEventSink
{
    private readonly AnalyticsHttpClient _client;
    private readonly bool _ownsClient;

    public HttpEventSink(AnalyticsHttpClient client, bool ownsClient = false)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        _ownsClient = ownsClient;
    }

    public string Description => _client.BaseAddress.ToString().TrimEnd('/');

    public Task<IngestResult> SendAsync(IReadOnlyList<AnalyticsEvent> batch, CancellationToken cancellationToken) =>
        _client.IngestAsync(batch, cancellationToken);

    public ValueTask DisposeAsync()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
