using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Bench.Kinesis;

/// <summary>
/// A pass-through on 127.0.0.1 between the fault proxy and dynalite that counts write items: those
/// inside BatchWriteItem calls (the fault proxy counts calls; DynamoDB bills writes per item), and
/// every written item by table and key shape, to tell which grains and leases the writes are for.
/// Requests and answers pass byte for byte, as the fault proxy passes them.
/// </summary>
internal sealed partial class BatchItemCounter : IAsyncDisposable
{
    private static readonly HashSet<string> NotForwarded = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Expect", "Content-Length", "TE", "Trailer",
    };

    private readonly WebApplication _app;
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, UseProxy = false, AutomaticDecompression = DecompressionMethods.None })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private readonly string _target;
    private readonly ConcurrentDictionary<string, long> _shapes = new(StringComparer.Ordinal);
    private long _puts;
    private long _deletes;

    private BatchItemCounter(WebApplication app, Uri target)
    {
        _app = app;
        _target = target.GetLeftPart(UriPartial.Authority);
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>PutRequest and DeleteRequest items sent in BatchWriteItem calls since the last reset.</summary>
    public (long Puts, long Deletes) Items => (Interlocked.Read(ref _puts), Interlocked.Read(ref _deletes));

    /// <summary>Write items since the last reset by operation, table and key shape ("PutItem grains source/dev-# | head"), most first.</summary>
    public IReadOnlyList<(string Shape, long Items)> Shapes =>
        _shapes.Select(s => (s.Key, s.Value)).OrderByDescending(s => s.Value).ThenBy(s => s.Key, StringComparer.Ordinal).ToList();

    public void Reset()
    {
        _shapes.Clear();
        Interlocked.Exchange(ref _puts, 0);
        Interlocked.Exchange(ref _deletes, 0);
    }

    public static async Task<BatchItemCounter> StartAsync(Uri target)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            o.Listen(IPAddress.Loopback, 0);
            o.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        var counter = new BatchItemCounter(app, target);
        ((IApplicationBuilder)app).Run(counter.HandleAsync);
        await app.StartAsync();
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
        counter.Url = new Uri($"http://127.0.0.1:{bound.Port}/");
        return counter;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _http.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, aborted);
        var body = buffer.ToArray();
        var target = context.Request.Headers["X-Amz-Target"].ToString();
        var operation = target[(target.LastIndexOf('.') + 1)..];
        if (operation is "BatchWriteItem" or "PutItem" or "UpdateItem" or "DeleteItem")
        {
            Count(operation, body);
        }

        var rawTarget = context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(_target + rawTarget)) { Content = new ByteArrayContent(body) };
        foreach (var (name, values) in context.Request.Headers)
        {
            if (!NotForwarded.Contains(name) && !request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                request.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        try
        {
            using var response = await _http.SendAsync(request, aborted);
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (!NotForwarded.Contains(name))
                {
                    context.Response.Headers[name] = values.ToArray();
                }
            }

            context.Response.ContentLength = response.Content.Headers.ContentLength;
            await response.Content.CopyToAsync(context.Response.Body, aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The caller went away.
        }
    }

    /// <summary>Counts the write items of one call by table and key shape.</summary>
    private void Count(string operation, byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            if (operation == "BatchWriteItem")
            {
                foreach (var table in root.GetProperty("RequestItems").EnumerateObject())
                {
                    foreach (var item in table.Value.EnumerateArray())
                    {
                        var delete = item.TryGetProperty("DeleteRequest", out var d);
                        Interlocked.Increment(ref delete ? ref _deletes : ref _puts);
                        Add($"BatchWriteItem {(delete ? "delete" : "put")}", table.Name, delete ? d.GetProperty("Key") : item.GetProperty("PutRequest").GetProperty("Item"));
                    }
                }
            }
            else
            {
                Add(operation, root.GetProperty("TableName").GetString()!, root.TryGetProperty("Item", out var item) ? item : root.GetProperty("Key"));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            Console.Error.WriteLine($"  {operation} body not understood: {e.Message}");
        }
    }

    /// <summary>The key's shape: its PK and SK with runs of digits as '#' ("metric/metric/bench.temp | head", "source/source/dev-# | chunk").</summary>
    private void Add(string operation, string table, JsonElement item)
    {
        var parts = new List<string>();
        foreach (var name in new[] { "PK", "SK" })
        {
            if (item.TryGetProperty(name, out var value) && value.TryGetProperty("S", out var s))
            {
                // A chunk's range key is c#{writeId}#{sha256}: all chunks are one shape.
                var text = s.GetString()!;
                parts.Add(text.StartsWith("c#", StringComparison.Ordinal) ? "chunk" : Digits().Replace(text, "#"));
            }
        }

        if (parts.Count == 0)
        {
            parts.Add(string.Join(",", item.EnumerateObject().Select(p => p.Name)));
        }

        var key = $"{operation} {table[(table.IndexOf('-') + 1)..]} {string.Join(" | ", parts)}";
        _shapes.AddOrUpdate(key, 1, (_, n) => n + 1);
    }

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();
}
