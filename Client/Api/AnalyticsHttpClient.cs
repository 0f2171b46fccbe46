using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Analytics.Events;

namespace Analytics.Client;

/// <summary>
/// A client of one silo's HTTP API (see the contract): ingest, metric and source queries, cluster
/// diagnostics and the dead-letter store. Thread-safe; keep one per silo address.
/// </summary>
/// <remarks>
/// <para><b>Not found.</b> The metric and source queries return <c>null</c> when the server
/// answers <c>404</c>, which the contract reserves for a metric or source that has never been
/// seen. Every other error answer throws <see cref="AnalyticsApiException"/> with the server's
/// message; <c>POST /api/events</c> throws its subclass <see cref="AnalyticsIngestException"/>
/// for <c>400</c> and <c>413</c>.</para>
/// <para><b>Retries.</b> Queries (GET) are idempotent, so they are tried again, up to
/// <see cref="AnalyticsClientOptions.MaxRetries"/> times with exponential backoff, after any
/// connection failure, a timeout, or a <c>502</c>/<c>503</c>/<c>504</c> answer. An ingest
/// (POST) is tried again only when the request provably never reached the server: the
/// connection could not be opened (refused, unreachable, name not resolved). Once a body may
/// have been sent, a failure is thrown rather than retried, because the server may already have
/// made the batch durable; sending it again is safe only for events that carry an <c>id</c>,
/// which the server deduplicates (by <c>source</c> and <c>id</c>, within its deduplication
/// horizon), and that decision belongs to the caller.</para>
/// </remarks>
public sealed class AnalyticsHttpClient : IDisposable
{
    private const string NdjsonMediaType = "application/x-ndjson";
    private const string JsonMediaType = "application/json";

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly AnalyticsClientOptions _options;

    /// <summary>A client of the silo at <paramref name="baseAddress"/>, such as <c>http://localhost:5080</c>.</summary>
    public AnalyticsHttpClient(string baseAddress)
        : this(new AnalyticsClientOptions { BaseAddress = new Uri(baseAddress, UriKind.Absolute) })
    {
    }

    /// <summary>A client with its own connection pool.</summary>
    public AnalyticsHttpClient(AnalyticsClientOptions? options = null)
    {
        _options = options ?? new AnalyticsClientOptions();
        _options.Validate();
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = _options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            AutomaticDecompression = DecompressionMethods.All,
        };
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = _options.Timeout };
        _ownsHttp = true;
        BaseAddress = WithTrailingSlash(_options.BaseAddress);
    }

    /// <summary>
    /// A client over an existing <see cref="HttpClient"/> (for handlers, proxies or tests). Its
    /// <see cref="HttpClient.BaseAddress"/> is ignored: <see cref="AnalyticsClientOptions.BaseAddress"/>
    /// is used. <paramref name="httpClient"/> is not disposed with this client.
    /// </summary>
    public AnalyticsHttpClient(HttpClient httpClient, AnalyticsClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        _options = options ?? new AnalyticsClientOptions();
        _options.Validate();
        _http = httpClient;
        _ownsHttp = false;
        BaseAddress = WithTrailingSlash(_options.BaseAddress);
    }

    /// <summary>The silo this client talks to, ending in <c>/</c>.</summary>
    public Uri BaseAddress { get; }

    // ---- Ingest

    /// <summary>
    /// Sends <paramref name="events"/> in one <c>POST /api/events</c> (as NDJSON, so error
    /// indexes are positions in <paramref name="events"/>). An empty list is not sent.
    /// </summary>
    /// <exception cref="AnalyticsIngestException">400 or 413: nothing was accepted.</exception>
    /// <exception cref="AnalyticsApiException">Another error answer.</exception>
    /// <exception cref="HttpRequestException">The server could not be reached.</exception>
    public Task<IngestResult> IngestAsync(IReadOnlyList<AnalyticsEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0)
        {
            return Task.FromResult(IngestResult.Empty);
        }

        var body = new ArrayBufferWriter<byte>(events.Count * 112);
        if (events is AnalyticsEvent[] array)
        {
            EventSerializer.WriteNdjson(body, array.AsSpan());
        }
        else
        {
            EventSerializer.WriteNdjson(body, events);
        }

        return IngestAsync(body.WrittenMemory, IngestFormat.Ndjson, cancellationToken);
    }

    /// <summary>
    /// Sends a body that is already in one of the contract's forms: a JSON array of events or
    /// NDJSON. Error indexes are array positions, or NDJSON lines counting only non-blank lines.
    /// </summary>
    /// <inheritdoc cref="IngestAsync(IReadOnlyList{AnalyticsEvent}, CancellationToken)"/>
    public async Task<IngestResult> IngestAsync(ReadOnlyMemory<byte> body, IngestFormat format = IngestFormat.Detect, CancellationToken cancellationToken = default)
    {
        if (format == IngestFormat.Detect)
        {
            format = DetectFormat(body.Span);
        }

        string mediaType = format == IngestFormat.JsonArray ? JsonMediaType : NdjsonMediaType;
        using HttpResponseMessage response = await SendAsync(
            () =>
            {
                var content = new ReadOnlyMemoryContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue(mediaType) { CharSet = "utf-8" };
                return new HttpRequestMessage(HttpMethod.Post, AnalyticsRoutes.Events) { Content = content };
            },
            idempotent: false,
            cancellationToken).ConfigureAwait(false);

        if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge)
        {
            string error = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            throw new AnalyticsIngestException(response.StatusCode, error);
        }

        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
        }

        return await ReadJsonAsync(response, ClientJsonContext.Default.IngestResult, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The form <see cref="IngestFormat.Detect"/> picks: <c>[</c> first is a JSON array, anything else NDJSON.</summary>
    public static IngestFormat DetectFormat(ReadOnlySpan<byte> body)
    {
        if (body.StartsWith("\uFEFF"u8))
        {
            body = body[3..];
        }

        int first = body.IndexOfAnyExcept(" \t\r\n"u8);
        return first >= 0 && body[first] == '[' ? IngestFormat.JsonArray : IngestFormat.Ndjson;
    }

    // ---- Queries

    /// <summary><c>GET /api/metrics</c>: the metrics seen so far.</summary>
    public async Task<IReadOnlyList<MetricInfo>> ListMetricsAsync(CancellationToken cancellationToken = default) =>
        await GetAsync(AnalyticsRoutes.Metrics, ClientJsonContext.Default.MetricInfoArray, notFoundIsNull: false, cancellationToken).ConfigureAwait(false)
        ?? [];

    /// <summary><c>GET /api/metrics/{metric}/stats</c>; <c>null</c> if the metric has never been seen.</summary>
    /// <param name="window">The window ending now; the server's default (5m) when null.</param>
    public Task<MetricStats?> GetStatsAsync(string metric, TimeSpan? window = null, CancellationToken cancellationToken = default) =>
        GetAsync(AnalyticsRoutes.Stats(metric, window), ClientJsonContext.Default.MetricStats, notFoundIsNull: true, cancellationToken);

    /// <summary><c>GET /api/metrics/{metric}/series</c>; <c>null</c> if the metric has never been seen.</summary>
    /// <param name="from">Start; the server's default (an hour before <paramref name="to"/>) when null.</param>
    /// <param name="to">End; now when null.</param>
    /// <param name="step">Step; the server's default (1m) when null.</param>
    public Task<MetricSeries?> GetSeriesAsync(string metric, DateTimeOffset? from = null, DateTimeOffset? to = null, TimeSpan? step = null, CancellationToken cancellationToken = default) =>
        GetAsync(AnalyticsRoutes.Series(metric, from, to, step), ClientJsonContext.Default.MetricSeries, notFoundIsNull: true, cancellationToken);

    /// <summary><c>GET /api/metrics/{metric}/top</c>; <c>null</c> if the metric has never been seen.</summary>
    public Task<TopResult?> GetTopAsync(string metric, TimeSpan? window = null, int? k = null, TopOrder? by = null, CancellationToken cancellationToken = default) =>
        GetAsync(AnalyticsRoutes.Top(metric, window, k, by), ClientJsonContext.Default.TopResult, notFoundIsNull: true, cancellationToken);

    /// <summary><c>GET /api/sources/{source}</c>; <c>null</c> if the source has never been seen.</summary>
    public Task<SourceSummary?> GetSourceAsync(string source, TimeSpan? window = null, CancellationToken cancellationToken = default) =>
        GetAsync(AnalyticsRoutes.Source(source, window), ClientJsonContext.Default.SourceSummary, notFoundIsNull: true, cancellationToken);

    /// <summary>
    /// <c>GET /api/sources/{source}/series</c>; <c>null</c> if the source has never been seen (or
    /// never reported <paramref name="metric"/>).
    /// </summary>
    public Task<SourceSeries?> GetSourceSeriesAsync(string source, string metric, DateTimeOffset? from = null, DateTimeOffset? to = null, TimeSpan? step = null, CancellationToken cancellationToken = default) =>
        GetAsync(AnalyticsRoutes.SourceSeries(source, metric, from, to, step), ClientJsonContext.Default.SourceSeries, notFoundIsNull: true, cancellationToken);

    /// <summary><c>GET /api/cluster</c>: the silos of the cluster and this silo's queues, as JSON.</summary>
    public async Task<JsonElement> GetClusterAsync(CancellationToken cancellationToken = default) =>
        await GetAsync(AnalyticsRoutes.Cluster, ClientJsonContext.Default.JsonElement, notFoundIsNull: false, cancellationToken).ConfigureAwait(false);

    /// <summary><c>GET /api/dead-letters?limit=N</c>: the newest records of the dead-letter store and its total size.</summary>
    /// <param name="limit">How many to list; the server's default (20) when null.</param>
    public async Task<DeadLetterPage> GetDeadLettersAsync(int? limit = null, CancellationToken cancellationToken = default) =>
        await GetAsync(AnalyticsRoutes.DeadLetters(limit), ClientJsonContext.Default.DeadLetterPage, notFoundIsNull: false, cancellationToken).ConfigureAwait(false)
        ?? new DeadLetterPage([], 0);

    /// <summary>
    /// GETs <paramref name="relativeUri"/> (see <see cref="AnalyticsRoutes"/>) and returns the
    /// answer's body as it came, or <c>null</c> for <c>404</c>; with the same retries and errors
    /// as the typed queries. For tools that print the server's JSON.
    /// </summary>
    public async Task<string?> GetRawAsync(string relativeUri, CancellationToken cancellationToken = default)
    {
        using HttpResponseMessage response = await SendAsync(
            () => new HttpRequestMessage(HttpMethod.Get, relativeUri), idempotent: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
        }

        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    // ---- Plumbing

    private async Task<T?> GetAsync<T>(string relativeUri, JsonTypeInfo<T> type, bool notFoundIsNull, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await SendAsync(
            () => new HttpRequestMessage(HttpMethod.Get, relativeUri), idempotent: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound && notFoundIsNull)
        {
            return default;
        }

        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
        }

        return await ReadJsonAsync(response, type, cancellationToken).ConfigureAwait(false);
    }

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> createRequest, bool idempotent, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            bool canRetry = attempt < _options.MaxRetries;
            using HttpRequestMessage request = createRequest();
            request.RequestUri = new Uri(BaseAddress, request.RequestUri!);
            try
            {
                HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken)
                    .ConfigureAwait(false);
                if (idempotent && canRetry && IsTransient(response.StatusCode))
                {
                    response.Dispose();
                }
                else
                {
                    return response;
                }
            }
            catch (HttpRequestException ex) when (canRetry && (idempotent || NeverReachedServer(ex)))
            {
                // Tried again below.
            }
            catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                // HttpClient reports its own timeout as a cancellation; only a GET is tried again.
                if (!(idempotent && canRetry))
                {
                    throw new TimeoutException(
                        $"{request.Method} {request.RequestUri} did not complete within {_options.Timeout.TotalSeconds:0.#} s.", ex);
                }
            }

            await Task.Delay(Backoff(attempt), cancellationToken).ConfigureAwait(false);
        }
    }

    private static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>
    /// True when the connection could not be opened at all, so not one byte of the request was
    /// sent. A failure on an open connection (reset, closed mid-answer) is not such a failure.
    /// </summary>
    internal static bool NeverReachedServer(HttpRequestException ex)
    {
        if (ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            return true;
        }

        for (Exception? inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostNotFound or SocketError.HostUnreachable or SocketError.NetworkUnreachable })
            {
                return true;
            }
        }

        return false;
    }

    private TimeSpan Backoff(int attempt)
    {
        double ms = _options.RetryDelay.TotalMilliseconds * Math.Pow(2, attempt);
        double jitter = 0.8 + Random.Shared.NextDouble() * 0.4;
        return TimeSpan.FromMilliseconds(ms * jitter);
    }

    private static async Task<T> ReadJsonAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return JsonSerializer.Deserialize(body, type)
                ?? throw new AnalyticsApiException(response.StatusCode, "The server answered null where a JSON value was expected.");
        }
        catch (JsonException ex)
        {
            throw new AnalyticsApiException(response.StatusCode,
                $"The answer of {response.RequestMessage?.RequestUri} is not the JSON the contract describes: {ex.Message} Body: {Shorten(Encoding.UTF8.GetString(body))}",
                ex);
        }
    }

    private static async Task<AnalyticsApiException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken) =>
        new(response.StatusCode, await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false));

    /// <summary>The contract's <c>{"error": ...}</c>, else the body's text, else a stand-in for the status.</summary>
    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string body;
        try
        {
            body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            body = string.Empty;
        }

        if (!string.IsNullOrWhiteSpace(body))
        {
            try
            {
                if (JsonSerializer.Deserialize(body, ClientJsonContext.Default.ErrorBody) is { Error: { Length: > 0 } error })
                {
                    return error;
                }
            }
            catch (JsonException)
            {
                // Not the contract's error body (a proxy's page, say): the text itself is shown.
            }

            return Shorten(body.Trim());
        }

        return response.StatusCode switch
        {
            HttpStatusCode.RequestEntityTooLarge => "the request body is larger than the server's limit (default 5 MiB); send smaller batches",
            HttpStatusCode.NotFound => $"{response.RequestMessage?.RequestUri} was not found; is this the analytics API?",
            _ => response.ReasonPhrase is { Length: > 0 } reason ? reason : "no error message",
        };
    }

    private static string Shorten(string text) => text.Length <= 500 ? text : string.Concat(text.AsSpan(0, 500), "…");

    private static Uri WithTrailingSlash(Uri uri) =>
        uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri.GetLeftPart(UriPartial.Path) + "/" + uri.Query);
}
