using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Analytics.EndToEnd.Tests.SiloApi;

namespace Analytics.EndToEnd.Tests;

/// <summary>
/// The embedded silo as a user runs it: events with known values over HTTP, every number checked
/// against a model, then a SIGKILL right after a 202 and a restart on the same data: nothing
/// accepted is lost and nothing is counted twice.
/// </summary>
public sealed class EmbeddedSiloTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "e2e-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task Every_number_is_exact_and_a_SIGKILL_right_after_202_loses_nothing_and_counts_nothing_twice()
    {
        var random = new Random(7);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var accepted = new List<Sent>();
        for (var n = 0; n < 1200; n++)
        {
            // Integers, so that the exact sum does not depend on the order of addition; negative
            // ones included; timestamps out of order within the last two minutes.
            accepted.Add(new Sent($"src-{n % 60:D2}", "e2e.temp", random.Next(-500, 501), now - random.Next(0, 120_000), $"e-{n}"));
        }

        var late = Enumerable.Range(0, 5).Select(i => new Sent("src-late", "e2e.temp", 99999, now - (long)TimeSpan.FromDays(40).TotalMilliseconds, $"late-{i}")).ToList();
        var huge = new[] { new Sent("big-1", "e2e.huge", 1e300, now, "h1"), new Sent("big-2", "e2e.huge", -1e300, now - 1000, "h2"), new Sent("big-1", "e2e.huge", 1e300, now - 2000, "h3") };

        await using (var silo = await SiloProcess.StartAsync(_data))
        {
            // Bad input is refused as a whole (400) or per event (listed errors), and counts nowhere.
            await PostAsync(silo, ["{\"source\": \"x\""], HttpStatusCode.BadRequest);
            await PostAsync(silo, [], HttpStatusCode.BadRequest);
            var mixed = await PostAsync(silo, [
                Json(accepted[0]),
                "{\"source\":\"src-00\",\"metric\":\"e2e.temp\",\"value\":\"12\"}",
                $"{{\"source\":\"src-00\",\"metric\":\"e2e.temp\",\"value\":1,\"timestamp\":\"{Iso(now + 3_600_000)}\"}}",
                "{\"source\":\"src-00\",\"metric\":\"bad metric!\",\"value\":1}",
            ]);
            Assert.Equal(1, (int)mixed["accepted"]!);
            Assert.Equal(3, (int)mixed["rejected"]!);
            Assert.Equal([1, 2, 3], mixed["errors"]!.AsArray().Select(e => (int)e!["index"]!));

            // The rest, shuffled, in batches, with every event sent twice somewhere (producer retries).
            var batches = accepted.Skip(1).Concat(late).Concat(huge).Concat(accepted.Take(400)).OrderBy(_ => random.Next()).Chunk(150);
            foreach (var batch in batches)
            {
                await PostAsync(silo, batch.Select(Json));
            }

            AssertStats(await StatsWhenCountReachesAsync(silo, "e2e.temp", accepted.Count), accepted, late: 5, distinct: 60);
            var hugeStats = await StatsWhenCountReachesAsync(silo, "e2e.huge", 3);
            Assert.Equal(1e300, (double)hugeStats["max"]!);
            Assert.Equal(-1e300, (double)hugeStats["min"]!);
            Assert.Equal(2, (long)hugeStats["distinctSources"]!);

            var source = (await GetAsync(silo, "/api/sources/src-07?window=1h"))!;
            var mine = accepted.Where(e => e.Source == "src-07").ToList();
            var summary = source["metrics"]!["e2e.temp"]!;
            Assert.Equal(mine.Count, (long)summary["count"]!);
            Assert.Equal(mine.MaxBy(e => e.Timestamp)!.Value, (double)summary["last"]!);
            Assert.Equal(mine.Min(e => e.Value), (double)summary["min"]!);
            Assert.Null(await GetAsync(silo, "/api/sources/never-seen"));
            Assert.Null(await GetAsync(silo, "/api/metrics/never.seen/stats"));

            // One more batch, and the process dies the instant it has said 202.
            var last = Enumerable.Range(0, 300).Select(n => new Sent($"src-{n % 60:D2}", "e2e.temp", random.Next(-500, 501), now - random.Next(0, 60_000), $"k-{n}")).ToList();
            await PostAsync(silo, last.Select(Json));
            await silo.KillAsync();
            accepted.AddRange(last);
        }

        await using (var restarted = await SiloProcess.StartAsync(_data))
        {
            AssertStats(await StatsWhenCountReachesAsync(restarted, "e2e.temp", accepted.Count), accepted, late: 5, distinct: 60);
            var metrics = await restarted.Http.GetFromJsonAsync<JsonArray>("/api/metrics");
            Assert.Contains("e2e.temp", metrics!.Select(m => (string)m!["metric"]!));
        }
    }

    [Fact]
    public async Task Inline_queries_without_inline_socket_completions_stop_the_silo_with_a_message_and_exit_code_2()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SiloProcess.StartAsync(
            _data, new Dictionary<string, string> { ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "" }, ["--Http:InlineQueries=true"]));

        Assert.Contains("exited with code 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("error: invalid configuration: Http:InlineQueries needs the environment variable DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_requests_get_a_clear_json_error_and_never_a_stack_trace()
    {
        // With queries on the I/O thread (Http:InlineQueries): every case below, ingest included, behaves the same.
        await using var silo = await SiloProcess.StartAsync(
            _data, new Dictionary<string, string> { ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1" }, ["--Http:MaxBodyBytes=65536", "--Http:InlineQueries=true"]);
        var cases = new (HttpMethod Method, string Path, string? Body, HttpStatusCode Status, string Contains)[]
        {
            (HttpMethod.Post, "/api/events", "not json", HttpStatusCode.BadRequest, ""),
            (HttpMethod.Post, "/api/events", "{\"source\":\"a\",\"metric\":\"m\",\"value\":1}", HttpStatusCode.BadRequest, "array"),
            (HttpMethod.Post, "/api/events", "[" + string.Join(",", Enumerable.Repeat("{\"source\":\"a\",\"metric\":\"m\",\"value\":1}", 3000)) + "]", HttpStatusCode.RequestEntityTooLarge, "limit"),
            (HttpMethod.Get, "/api/metrics/m/stats?window=5x", null, HttpStatusCode.BadRequest, "window"),
            (HttpMethod.Get, "/api/metrics/m/stats?window=-5m", null, HttpStatusCode.BadRequest, "window"),
            (HttpMethod.Get, "/api/metrics/m/series?step=0s", null, HttpStatusCode.BadRequest, "step"),
            (HttpMethod.Get, "/api/metrics/m/series?from=yesterday", null, HttpStatusCode.BadRequest, "from"),
            (HttpMethod.Get, "/api/metrics/m/series?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", null, HttpStatusCode.BadRequest, "before"),
            (HttpMethod.Get, "/api/metrics/m/top?k=0", null, HttpStatusCode.BadRequest, "k"),
            (HttpMethod.Get, "/api/metrics/m/top?by=median", null, HttpStatusCode.BadRequest, "by"),
            (HttpMethod.Get, "/api/metrics/" + new string('m', 200) + "/stats", null, HttpStatusCode.BadRequest, "metric"),
            (HttpMethod.Get, "/api/metrics/bad%20name/stats", null, HttpStatusCode.BadRequest, "metric"),
            (HttpMethod.Get, "/api/metrics/unknown.metric/stats", null, HttpStatusCode.NotFound, "never been seen"),
            (HttpMethod.Get, "/api/sources/unknown-source", null, HttpStatusCode.NotFound, "never been seen"),
            (HttpMethod.Get, "/api/sources/s/series", null, HttpStatusCode.BadRequest, "metric"),
            (HttpMethod.Get, "/api/nothing-here", null, HttpStatusCode.NotFound, "no endpoint"),
        };

        foreach (var (method, path, body, status, contains) in cases)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await silo.Http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(status == response.StatusCode, $"{method} {path}: expected {(int)status}, got {(int)response.StatusCode} {text}");
            var error = JsonDocument.Parse(text).RootElement.GetProperty("error").GetString()!;
            Assert.Contains(contains, error, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("   at ", text);
            // Every API answer, errors included, says how long the silo took.
            Assert.Matches(@"^app;dur=\d+(\.\d+)?$", response.Headers.GetValues("Server-Timing").Single());
        }

        // The silo's runtime figures (for the ops dashboard and the benches) move with the work it does.
        async Task<JsonNode> RuntimeAsync() => (await silo.Http.GetFromJsonAsync<JsonObject>("/api/cluster/self"))!["runtime"]!;
        var runtimeBefore = await RuntimeAsync();

        // A chunked body (no Content-Length) is read into a pooled buffer that grows: over the limit it is refused, under it accepted whole.
        static string Events(int n) => "[" + string.Join(",", Enumerable.Range(0, n).Select(i => $"{{\"source\":\"chunked\",\"metric\":\"m\",\"value\":{i}}}")) + "]";
        foreach (var (events, status) in new[] { (3000, HttpStatusCode.RequestEntityTooLarge), (1200, HttpStatusCode.Accepted) })
        {
            using var chunked = new StreamContent(new NoLengthStream(Encoding.UTF8.GetBytes(Events(events))));
            chunked.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var response = await silo.Http.PostAsync("/api/events", chunked);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(status == response.StatusCode, $"chunked body of {events} events: expected {(int)status}, got {(int)response.StatusCode} {text}");
            if (status == HttpStatusCode.Accepted)
            {
                Assert.Equal(events, JsonDocument.Parse(text).RootElement.GetProperty("accepted").GetInt32());
            }
        }

        var runtimeAfter = await RuntimeAsync();
        Assert.True((long)runtimeAfter["allocatedBytes"]! > (long)runtimeBefore["allocatedBytes"]! + 100_000, $"4,200 events were read and parsed: {runtimeBefore} then {runtimeAfter}");
        Assert.True((double)runtimeAfter["cpuSeconds"]! > (double)runtimeBefore["cpuSeconds"]!);
        Assert.True((double)runtimeAfter["gcPauseMs"]! >= (double)runtimeBefore["gcPauseMs"]!);
        Assert.True((long)runtimeAfter["heapBytes"]! > 0 && (int)runtimeAfter["threadPoolThreads"]! > 0);
        Assert.True((bool)runtimeAfter["serverGc"]!, "the silo runs the server GC (Sdk.Web's default)");

        // Per-event problems inside a readable body: 202, with each one listed by index.
        var perEvent = new (string Body, string ContentType, string Contains)[]
        {
            ("{\"source\":\"a\",\"metric\":\"m\",\"value\":NaN}\n{\"source\":\"a\",\"metric\":\"m\",\"value\":1}", "application/x-ndjson", ""),
            ("[{\"source\":\"" + new string('s', 257) + "\",\"metric\":\"m\",\"value\":1},{\"source\":\"a\",\"metric\":\"m\",\"value\":1}]", "application/json", "256"),
            ("[{\"source\":\"a\",\"metric\":\"m\",\"value\":1e400},{\"source\":\"a\",\"metric\":\"m\",\"value\":1}]", "application/json", "finite"),
            ("[{\"source\":\"a\",\"metric\":\"m\",\"value\":true},{\"source\":\"a\",\"metric\":\"m\",\"value\":1}]", "application/json", "number"),
        };
        foreach (var (body, contentType, contains) in perEvent)
        {
            using var response = await silo.Http.PostAsync("/api/events", new StringContent(body, Encoding.UTF8, contentType));
            var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.Equal(1, (int)answer["accepted"]!);
            Assert.Equal(1, (int)answer["rejected"]!);
            var error = (string)answer["errors"]![0]!["error"]!;
            Assert.Contains(contains, error, StringComparison.OrdinalIgnoreCase);
        }

        // NaN is not JSON, so in an array it makes the whole body unreadable: 400.
        using (var nan = await silo.Http.PostAsync("/api/events", new StringContent("[{\"source\":\"a\",\"metric\":\"m\",\"value\":NaN}]", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, nan.StatusCode);
            Assert.Contains("error", await nan.Content.ReadAsStringAsync());
        }

        Assert.True((await silo.Http.GetAsync("/health/live")).IsSuccessStatusCode);
        var openApi = await silo.Http.GetStringAsync("/openapi/v1.json");
        Assert.Contains("/api/metrics/{metric}/stats", openApi);
    }
}

/// <summary>A readable stream that does not know its length, so that HttpClient sends it chunked.</summary>
file sealed class NoLengthStream(byte[] data) : Stream
{
    private int _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        // Small reads, so that the body arrives in many chunks.
        var n = Math.Min(Math.Min(count, 7_000), data.Length - _position);
        Array.Copy(data, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
