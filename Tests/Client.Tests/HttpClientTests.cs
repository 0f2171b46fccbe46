using System.Net;
using System.Net.Sockets;
using System.Text;
using Analytics.Events;

namespace Analytics.Client.Tests;

public sealed class HttpClientTests : IAsyncLifetime
{
    private FakeSilo _silo = null!;
    private AnalyticsHttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _silo = await FakeSilo.StartAsync();
        _client = new AnalyticsHttpClient(Options(_silo.Url));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _silo.DisposeAsync();
    }

    private static AnalyticsClientOptions Options(Uri url) => new()
    {
        BaseAddress = url,
        RetryDelay = TimeSpan.FromMilliseconds(5),
        Timeout = TimeSpan.FromSeconds(10),
    };

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task Ingest_of_events_posts_ndjson_and_parses_the_answer()
    {
        AnalyticsEvent[] events =
        [
            new("dev-1", "temperature", 21.5, Now, "dev-1-000001"),
            new("dev-2", "humidity", 48, Now, "dev-2-000001"),
            new("dev-3", "pressure", 1013.25, Now),
        ];

        IngestResult result = await _client.IngestAsync(events);

        Assert.Equal(3, result.Accepted);
        Assert.Equal(0, result.Rejected);
        Assert.Empty(result.Errors);
        RecordedRequest post = Assert.Single(_silo.Posts);
        Assert.StartsWith("application/x-ndjson", post.ContentType);
        Assert.Equal(3, post.Elements);
        Assert.Equal(events.Select(e => e.Id), _silo.Events.Select(e => e.Id));
        Assert.Equal(1013.25, _silo.Events.Last().Value);
    }

    [Fact]
    public async Task Ingest_of_raw_ndjson_reports_rejected_lines_by_index()
    {
        string body = $$"""
            {"source":"dev-1","metric":"temperature","value":20,"timestamp":{{Now}}}
            {"source":"dev-1","metric":"temperature"}

            {"source":"dev-2","metric":"bad name!","value":1}
            {"source":"dev-3","metric":"temperature","value":22.5}
            """;

        IngestResult result = await _client.IngestAsync(Encoding.UTF8.GetBytes(body));

        Assert.Equal(2, result.Accepted);
        Assert.Equal(2, result.Rejected);
        Assert.Collection(result.Errors,
            e =>
            {
                Assert.Equal(1, e.Index);
                Assert.Contains("value is required", e.Error);
            },
            e =>
            {
                Assert.Equal(2, e.Index); // the blank line takes no index
                Assert.Contains("bad name!", e.Error);
            });
    }

    [Fact]
    public async Task Ingest_detects_a_json_array_body()
    {
        byte[] body = Encoding.UTF8.GetBytes("""  [{"source":"a","metric":"m","value":1},{"source":"b","metric":"m","value":2}]""");

        IngestResult result = await _client.IngestAsync(body);

        Assert.Equal(2, result.Accepted);
        Assert.StartsWith("application/json", Assert.Single(_silo.Posts).ContentType);
    }

    [Fact]
    public async Task Ingest_400_throws_with_the_servers_message()
    {
        var ex = await Assert.ThrowsAsync<AnalyticsIngestException>(
            () => _client.IngestAsync(Encoding.UTF8.GetBytes("[{\"source\": "), IngestFormat.JsonArray));

        Assert.Equal(HttpStatusCode.BadRequest, ex.StatusCode);
        Assert.True(ex.IsMalformed);
        Assert.StartsWith("the body is not valid JSON", ex.Error);
        Assert.Contains(ex.Error, ex.Message);
    }

    [Fact]
    public async Task Ingest_413_throws_with_the_servers_message()
    {
        _silo.MaxBodyBytes = 100;
        var events = Enumerable.Range(0, 10).Select(i => new AnalyticsEvent("dev-1", "temperature", i, Now, $"id-{i}")).ToArray();

        var ex = await Assert.ThrowsAsync<AnalyticsIngestException>(() => _client.IngestAsync(events));

        Assert.True(ex.IsPayloadTooLarge);
        Assert.Contains("the limit is 100 bytes", ex.Error);
        Assert.Single(_silo.Posts); // not retried
    }

    [Fact]
    public async Task Ingest_of_nothing_sends_nothing()
    {
        IngestResult result = await _client.IngestAsync(Array.Empty<AnalyticsEvent>());

        Assert.Equal(0, result.Accepted);
        Assert.Empty(_silo.Requests);
    }

    [Fact]
    public async Task Queries_parse_the_contract_json()
    {
        IReadOnlyList<MetricInfo> metrics = await _client.ListMetricsAsync();
        MetricStats? stats = await _client.GetStatsAsync("temperature", TimeSpan.FromMinutes(15));
        MetricStats? empty = await _client.GetStatsAsync("humidity");
        MetricSeries? series = await _client.GetSeriesAsync("temperature", step: TimeSpan.FromMinutes(1));
        TopResult? top = await _client.GetTopAsync("temperature", k: 2, by: TopOrder.Max);
        SourceSummary? source = await _client.GetSourceAsync("dev-1");
        SourceSeries? sourceSeries = await _client.GetSourceSeriesAsync("dev-1", "temperature");
        DeadLetterPage letters = await _client.GetDeadLettersAsync(5);
        var cluster = await _client.GetClusterAsync();

        Assert.Equal(["temperature", "humidity"], metrics.Select(m => m.Metric));
        Assert.NotNull(stats);
        Assert.Equal("15m", stats.Window);
        Assert.Equal(1200, stats.Count);
        Assert.Equal(29.9, stats.P99);
        Assert.Equal(100, stats.DistinctSources);
        Assert.Equal(DateTimeOffset.Parse(FakeSilo.StatsTo, System.Globalization.CultureInfo.InvariantCulture), stats.To);
        Assert.NotNull(empty);
        Assert.Null(empty.Min);
        Assert.Null(empty.P50);
        Assert.NotNull(series);
        Assert.Equal(3, series.Points.Count);
        Assert.Equal(0, series.Points[1].Count);
        Assert.Null(series.Points[1].Mean);
        Assert.NotNull(top);
        Assert.Equal(["dev-7", "dev-3"], top.Items.Select(i => i.Source));
        Assert.Equal("max", top.By);
        Assert.NotNull(source);
        Assert.Equal(21.5, source.Metrics["temperature"].Last);
        Assert.Equal(118, source.Metrics["humidity"].Count);
        Assert.NotNull(sourceSeries);
        Assert.Equal("temperature", sourceSeries.Metric);
        Assert.Single(sourceSeries.Points);
        Assert.Equal(7, letters.Total);
        Assert.Equal("17", letters.Items[1].Sequence);
        Assert.Equal("xyz\n", letters.Items[0].Data);
        Assert.Equal("dev", cluster.GetProperty("clusterId").GetString());

        // Parameters are written in the contract's forms.
        Assert.Contains(_silo.Gets, r => r.Path == "/api/metrics/temperature/stats" && r.Query == "?window=15m");
        Assert.Contains(_silo.Gets, r => r.Path == "/api/metrics/temperature/top" && r.Query == "?k=2&by=max");
        Assert.Contains(_silo.Gets, r => r.Path == "/api/dead-letters" && r.Query == "?limit=5");
    }

    [Fact]
    public async Task Timestamps_and_names_are_escaped_in_the_address()
    {
        var from = new DateTimeOffset(2026, 11, 21, 10, 0, 0, 250, TimeSpan.FromHours(1));
        await _client.GetSeriesAsync("a/b:c", from, from.AddHours(1), TimeSpan.FromSeconds(90));

        RecordedRequest get = Assert.Single(_silo.Gets);
        Assert.Equal("?from=2026-11-21T09%3A00%3A00.250Z&to=2026-11-21T10%3A00%3A00.250Z&step=90s", get.Query);
        Assert.Equal("api/metrics/a%2Fb%3Ac/series", AnalyticsRoutes.Series("a/b:c"));
    }

    [Fact]
    public async Task Not_found_is_null_for_metrics_and_sources()
    {
        Assert.Null(await _client.GetStatsAsync("never-seen"));
        Assert.Null(await _client.GetSeriesAsync("never-seen"));
        Assert.Null(await _client.GetTopAsync("never-seen"));
        Assert.Null(await _client.GetSourceAsync("dev-404"));
        Assert.Null(await _client.GetSourceSeriesAsync("dev-1", "pressure"));
        Assert.Null(await _client.GetRawAsync(AnalyticsRoutes.Stats("never-seen")));
    }

    [Fact]
    public async Task Other_errors_throw_with_status_and_message()
    {
        var ex = await Assert.ThrowsAsync<AnalyticsApiException>(() => _client.GetStatsAsync("broken"));

        Assert.Equal(HttpStatusCode.InternalServerError, ex.StatusCode);
        Assert.Equal("the metric grain failed: boom", ex.Error);
        Assert.Single(_silo.Gets); // a 500 is not retried
    }

    [Fact]
    public async Task Get_is_retried_after_aborted_connections()
    {
        _silo.AbortNextGets(2);

        IReadOnlyList<MetricInfo> metrics = await _client.ListMetricsAsync();

        Assert.Equal(2, metrics.Count);
        Assert.Equal(3, _silo.Gets.Count());
    }

    [Fact]
    public async Task Get_is_retried_after_503()
    {
        _silo.UnavailableNextGets(1);

        Assert.NotNull(await _client.GetStatsAsync("temperature"));
        Assert.Equal(2, _silo.Gets.Count());
    }

    [Fact]
    public async Task Get_gives_up_after_max_retries()
    {
        _silo.AbortNextGets(10);

        await Assert.ThrowsAsync<HttpRequestException>(() => _client.ListMetricsAsync());

        Assert.Equal(3, _silo.Gets.Count()); // the first try and MaxRetries (2) more
    }

    [Fact]
    public async Task Post_is_not_retried_once_the_request_reached_the_server()
    {
        _silo.AbortNextPosts(1);

        await Assert.ThrowsAsync<HttpRequestException>(
            () => _client.IngestAsync([new AnalyticsEvent("dev-1", "temperature", 1, Now, "dev-1-1")]));

        Assert.Single(_silo.Posts);
        Assert.Empty(_silo.Events);
    }

    [Fact]
    public async Task Post_is_retried_when_the_connection_could_not_be_opened()
    {
        var handler = new RefuseFirstConnections(2) { InnerHandler = new SocketsHttpHandler() };
        using var http = new HttpClient(handler);
        using var client = new AnalyticsHttpClient(http, Options(_silo.Url));

        IngestResult result = await client.IngestAsync([new AnalyticsEvent("dev-1", "temperature", 1, Now, "dev-1-1")]);

        Assert.Equal(1, result.Accepted);
        Assert.Equal(3, handler.Attempts);
        Assert.Single(_silo.Posts);
    }

    [Fact]
    public async Task A_closed_port_is_a_failure_that_never_reached_the_server()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var client = new AnalyticsHttpClient(Options(new Uri($"http://127.0.0.1:{port}")));

        var ex = await Assert.ThrowsAsync<HttpRequestException>(
            () => client.IngestAsync([new AnalyticsEvent("dev-1", "temperature", 1, Now)]));

        Assert.True(AnalyticsHttpClient.NeverReachedServer(ex));
    }

    [Fact]
    public void Base_address_keeps_its_path_prefix()
    {
        using var client = new AnalyticsHttpClient("http://example.test:8080/analytics");

        Assert.Equal("http://example.test:8080/analytics/", client.BaseAddress.ToString());
    }

    /// <summary>Fails the first attempts the way a refused connection does, before anything is sent.</summary>
    private sealed class RefuseFirstConnections(int failures) : DelegatingHandler
    {
        private int _attempts;

        public int Attempts => _attempts;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _attempts) <= failures)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (127.0.0.1)",
                    new SocketException((int)SocketError.ConnectionRefused));
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
