using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Analytics.Events;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Analytics.Client.Tests;

/// <summary>One request as the fake silo saw it.</summary>
public sealed record RecordedRequest(string Method, string Path, string Query, string? ContentType, int BodyBytes, int Elements);

/// <summary>
/// A small fake of a silo's HTTP API on a real Kestrel server (loopback, ephemeral port). Ingest
/// is parsed with the real <see cref="EventParser"/>, so accept/reject answers are the contract's;
/// the queries answer canned data for the metrics <c>temperature</c> and <c>humidity</c> and the
/// source <c>dev-1</c>, and 404 for anything else. Every request is recorded.
/// </summary>
public sealed class FakeSilo : IAsyncDisposable
{
    public const string StatsFrom = "2026-11-21T09:55:00.000Z";
    public const string StatsTo = "2026-11-21T10:00:00.000Z";

    private readonly WebApplication _app;
    private int _abortGets;
    private int _abortPosts;
    private int _unavailableGets;

    private FakeSilo(WebApplication app)
    {
        _app = app;
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>Bodies larger than this get 413 with the contract's error body.</summary>
    public long MaxBodyBytes { get; set; } = 5 * 1024 * 1024;

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>Every event accepted by ingest, in arrival order per request.</summary>
    public ConcurrentQueue<AnalyticsEvent> Events { get; } = new();

    /// <summary>Raw JSON bodies of the canned answers, by path, for --json comparisons.</summary>
    public ConcurrentDictionary<string, string> Answers { get; } = new();

    public IEnumerable<RecordedRequest> Posts => Requests.Where(r => r.Method == "POST");

    public IEnumerable<RecordedRequest> Gets => Requests.Where(r => r.Method == "GET");

    /// <summary>The next <paramref name="count"/> GETs have their connection aborted without an answer.</summary>
    public void AbortNextGets(int count) => Volatile.Write(ref _abortGets, count);

    /// <summary>The next <paramref name="count"/> POSTs are read, recorded, and then aborted without an answer.</summary>
    public void AbortNextPosts(int count) => Volatile.Write(ref _abortPosts, count);

    /// <summary>The next <paramref name="count"/> GETs answer 503.</summary>
    public void UnavailableNextGets(int count) => Volatile.Write(ref _unavailableGets, count);

    public static async Task<FakeSilo> StartAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        WebApplication app = builder.Build();
        var silo = new FakeSilo(app);
        silo.Map(app);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        silo.Url = new Uri(address);
        return silo;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void Map(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            if (context.Request.Method == "GET")
            {
                Record(context, 0, 0);
                if (TakeOne(ref _abortGets))
                {
                    context.Abort();
                    return;
                }

                if (TakeOne(ref _unavailableGets))
                {
                    await Error(context, StatusCodes.Status503ServiceUnavailable, "The silo has not joined the cluster yet.");
                    return;
                }
            }

            await next(context);
        });

        app.MapPost("/api/events", IngestAsync);
        app.MapGet("/api/metrics", (HttpContext c) => Answer(c, """[{"metric":"temperature"},{"metric":"humidity"}]"""));
        app.MapGet("/api/metrics/{metric}/stats", (HttpContext c, string metric, string? window) => metric switch
        {
            "temperature" => Answer(c, $$"""
                {"metric":"temperature","window":"{{window ?? "5m"}}","from":"{{StatsFrom}}","to":"{{StatsTo}}",
                 "count":1200,"sum":25320.5,"min":15.25,"max":30.5,"mean":21.1,
                 "p50":21,"p90":25.4,"p95":27.125,"p99":29.9,"distinctSources":100,"late":3}
                """),
            "humidity" => Answer(c, $$"""
                {"metric":"humidity","window":"{{window ?? "5m"}}","from":"{{StatsFrom}}","to":"{{StatsTo}}",
                 "count":0,"sum":0,"min":null,"max":null,"mean":null,"p50":null,"p90":null,"p95":null,"p99":null,
                 "distinctSources":0,"late":0}
                """),
            "broken" => Error(c, 500, "the metric grain failed: boom"),
            _ => Error(c, 404, $"Metric '{metric}' has never been seen."),
        });
        app.MapGet("/api/metrics/{metric}/series", (HttpContext c, string metric, string? step) => metric == "temperature"
            ? Answer(c, $$"""
                {"metric":"temperature","step":"{{step ?? "1m"}}","points":[
                 {"t":"2026-11-21T10:00:00.000Z","count":10,"sum":215,"min":20,"max":23,"mean":21.5,"p50":21.4,"p99":22.9},
                 {"t":"2026-11-21T10:01:00.000Z","count":0,"sum":0,"min":null,"max":null,"mean":null,"p50":null,"p99":null},
                 {"t":"2026-11-21T10:02:00.000Z","count":4,"sum":100.5,"min":24.5,"max":26.25,"mean":25.125,"p50":25,"p99":26.2}]}
                """)
            : Error(c, 404, $"Metric '{metric}' has never been seen."));
        app.MapGet("/api/metrics/{metric}/top", (HttpContext c, string metric, string? window, string? k, string? by) =>
        {
            if (metric != "temperature")
            {
                return Error(c, 404, $"Metric '{metric}' has never been seen.");
            }

            var items = new[]
            {
                """{"source":"dev-7","count":50,"max":30.5,"mean":24.25}""",
                """{"source":"dev-3","count":48,"max":29,"mean":23.5}""",
                """{"source":"dev-12","count":47,"max":28.75,"mean":22.125}""",
            }.Take(k is null ? 10 : int.Parse(k, System.Globalization.CultureInfo.InvariantCulture));
            return Answer(c, $$"""{"metric":"temperature","window":"{{window ?? "5m"}}","by":"{{by ?? "count"}}","items":[{{string.Join(',', items)}}]}""");
        });
        app.MapGet("/api/sources/{source}", (HttpContext c, string source) => source == "dev-1"
            ? Answer(c, """
                {"source":"dev-1","firstSeen":"2026-11-21T08:00:00.000Z","lastSeen":"2026-11-21T10:00:00.250Z",
                 "metrics":{"temperature":{"last":21.5,"lastTimestamp":"2026-11-21T10:00:00.250Z","count":120,"min":19,"max":24.5,"mean":21.75},
                            "humidity":{"last":48,"lastTimestamp":"2026-11-21T09:59:59.000Z","count":118,"min":40,"max":55,"mean":47.5}}}
                """)
            : Error(c, 404, $"Source '{source}' has never been seen."));
        app.MapGet("/api/sources/{source}/series", (HttpContext c, string source, string? metric) => source == "dev-1" && metric == "temperature"
            ? Answer(c, """
                {"source":"dev-1","metric":"temperature","step":"1m","points":[
                 {"t":"2026-11-21T10:00:00.000Z","count":2,"sum":43,"min":21,"max":22,"mean":21.5,"p50":21,"p99":22}]}
                """)
            : Error(c, 404, $"Source '{source}' has never reported metric '{metric}'."));
        app.MapGet("/api/cluster", (HttpContext c) => Answer(c, """{"clusterId":"dev","self":"S127.0.0.1:11111:1","membershipVersion":3,"silos":[]}"""));
        app.MapGet("/api/dead-letters", (HttpContext c, string? limit) => Answer(c, """
            {"total":7,"items":[
             {"queue":"shard-0","sequence":"49590338271490256608559692538361571095921575989136588898","reason":"the record is not valid JSON: 'x' is an invalid start of a value. (line 1, byte 1)","time":"2026-11-21T10:00:01.000Z","data":"xyz\n"},
             {"queue":"shard-1","sequence":"17","reason":"each event must be a JSON object, got a number","time":"2026-11-21T09:58:00.500Z","data":"[1,2]"}]}
            """));
    }

    private async Task IngestAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        byte[] body = buffer.ToArray();
        string contentType = context.Request.ContentType ?? string.Empty;
        bool ndjson = contentType.StartsWith("application/x-ndjson", StringComparison.OrdinalIgnoreCase);

        if (body.Length > MaxBodyBytes)
        {
            Record(context, body.Length, 0);
            await Error(context, 413, $"The body is {body.Length} bytes; the limit is {MaxBodyBytes} bytes (Http:MaxBodyBytes). Split the batch.");
            return;
        }

        EventParseResult result = EventParser.ParseBody(body, ndjson, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Record(context, body.Length, result.IsFatal ? 0 : result.AcceptedElements + result.Rejected);
        if (result.IsFatal)
        {
            await Error(context, 400, result.FatalError!);
            return;
        }

        if (TakeOne(ref _abortPosts))
        {
            context.Abort();
            return;
        }

        foreach (AnalyticsEvent e in result.Accepted)
        {
            Events.Enqueue(e);
        }

        var answer = new JsonObject
        {
            ["accepted"] = result.Accepted.Count,
            ["rejected"] = result.Rejected,
            ["errors"] = new JsonArray(result.Errors.Select(e => (JsonNode)new JsonObject { ["index"] = e.Index, ["error"] = e.Error }).ToArray()),
        };
        context.Response.StatusCode = 202;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(answer.ToJsonString());
    }

    private void Record(HttpContext context, int bodyBytes, int elements)
    {
        Requests.Enqueue(new RecordedRequest(
            context.Request.Method,
            context.Request.Path.Value ?? string.Empty,
            context.Request.QueryString.Value ?? string.Empty,
            context.Request.ContentType,
            bodyBytes,
            elements));
    }

    private Task Answer(HttpContext context, string json)
    {
        string compact = JsonNode.Parse(json)!.ToJsonString();
        Answers[context.Request.Path.Value!] = compact;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(compact);
    }

    private static Task Error(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new { error = message }));
    }

    private static bool TakeOne(ref int counter)
    {
        while (true)
        {
            int current = Volatile.Read(ref counter);
            if (current <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref counter, current - 1, current) == current)
            {
                return true;
            }
        }
    }
}
