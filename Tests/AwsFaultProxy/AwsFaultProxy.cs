using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Testing.AwsFaultProxy;

/// <summary>
/// A reverse proxy on 127.0.0.1 in front of kinesis-mock or dynalite: it counts the AWS operations
/// that pass (by the X-Amz-Target header) and can answer chosen ones with throttling or 5xx errors,
/// or fail part of a Kinesis PutRecords, the way the real services do under load. Requests go on
/// byte for byte (method, path and query as sent, headers but Host and hop-by-hop ones, body), so
/// a SigV4 signature's inputs stay as the client made them.
/// </summary>
/// <remarks>
/// <see cref="Counts"/> counts every request the proxy received, those it answered with an injected
/// fault included (the client's attempts); <see cref="Injected"/> counts those answered by the proxy.
/// </remarks>
public sealed class AwsFaultProxy : IAsyncDisposable
{
    /// <summary>Fault rules set for this operation name apply to every operation without its own rule.</summary>
    public const string AnyOperation = "*";

    // Headers that describe one hop, not the message; Host is the target's own, and the body's
    // length and any Expect: 100-continue are the forwarding client's business once it is buffered.
    private static readonly HashSet<string> NotForwarded = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Expect", "Content-Length",
    };

    private readonly WebApplication _app;
    private readonly HttpClient _http;
    private readonly string _targetBase;
    private readonly ConcurrentDictionary<string, Counter> _counts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Counter> _injected = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FaultRule> _rules = new(StringComparer.Ordinal);
    private double _putRecordsFailFraction;
    private long _failedPutRecordsEntries;
    private int _disposed;

    private AwsFaultProxy(WebApplication app, Uri target)
    {
        _app = app;
        Target = target;
        // Path and query are appended as the client sent them (RawTarget), so no base path may end in '/'.
        _targetBase = target.GetLeftPart(UriPartial.Authority) + target.AbsolutePath.TrimEnd('/');
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            // Bodies pass as sent: the DynamoDB SDK checks x-amz-crc32 over the bytes on the wire.
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            // The client's own timeouts apply: an aborted client request cancels the forwarded one.
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>Where clients send their calls: http://127.0.0.1:port/.</summary>
    public Uri Url { get; private set; } = null!;

    /// <summary>The emulator the calls go on to.</summary>
    public Uri Target { get; }

    /// <summary>Requests received per operation (the part of X-Amz-Target after the dot; "" without one), faulted ones included.</summary>
    public IReadOnlyDictionary<string, long> Counts => Snapshot(_counts);

    /// <summary>Requests answered with an injected fault per operation, including PutRecords calls with entries failed on purpose.</summary>
    public IReadOnlyDictionary<string, long> InjectedCounts => Snapshot(_injected);

    /// <summary>PutRecords entries answered as throttled by <see cref="FailPutRecordsEntries"/>.</summary>
    public long FailedPutRecordsEntries => Interlocked.Read(ref _failedPutRecordsEntries);

    public static async Task<AwsFaultProxy> StartAsync(Uri target, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!target.IsAbsoluteUri || (target.Scheme != Uri.UriSchemeHttp && target.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"The target '{target}' is not an absolute http or https URL.", nameof(target));
        }

        // The empty builder reads no configuration or environment (ASPNETCORE_URLS and the like),
        // and logs nothing: only the listener below.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(options =>
        {
            options.Listen(IPAddress.Loopback, 0);
            options.AddServerHeader = false;
            // A PutRecords is up to 5 MiB of data, more once base64-encoded; the emulator judges sizes.
            options.Limits.MaxRequestBodySize = null;
        });

        var app = builder.Build();
        var proxy = new AwsFaultProxy(app, target);
        ((IApplicationBuilder)app).Run(proxy.HandleAsync);
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
            var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
            // Kestrel reports the port it was given for port 0.
            var bound = new Uri(addresses.Single());
            proxy.Url = new Uri($"http://127.0.0.1:{bound.Port}/");
            return proxy;
        }
        catch
        {
            await proxy.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Called with the operation and request body of every request that is forwarded to the
    /// target (not those answered with an injected fault), before it is sent: for callers that
    /// look inside requests, such as counting the items of a BatchWriteItem. Must not throw.
    /// </summary>
    public Action<string, ReadOnlyMemory<byte>>? OnForwarding { get; set; }

    public long Count(string operation) => Read(_counts, OperationOf(operation));

    public long Injected(string operation) => Read(_injected, OperationOf(operation));

    /// <summary>Zeroes every count. Requests already past their count are not undone.</summary>
    public void ResetCounts()
    {
        // Counters are zeroed, not removed: a request holding one keeps counting into the live table.
        foreach (var counter in _counts.Values.Concat(_injected.Values))
        {
            Interlocked.Exchange(ref counter.Value, 0);
        }

        Interlocked.Exchange(ref _failedPutRecordsEntries, 0);
    }

    /// <summary>
    /// Fails requests of <paramref name="operation"/> (for example "PutItem", or <see cref="AnyOperation"/>)
    /// instead of forwarding them: the first <paramref name="firstN"/>, every <paramref name="everyNth"/>-th,
    /// and each other one with <paramref name="probability"/>, counted from this call. Replaces the
    /// operation's previous rule.
    /// </summary>
    public void Throttle(string operation, int everyNth = 0, double probability = 0, int firstN = 0, FaultKind kind = FaultKind.ProvisionedThroughputExceeded) =>
        _rules[OperationOf(operation)] = new FaultRule(everyNth, probability, firstN, kind);

    /// <summary>
    /// Answers each entry of a Kinesis PutRecords as throttled with probability <paramref name="fraction"/>;
    /// only the other entries reach the emulator. 0 turns it off.
    /// </summary>
    public void FailPutRecordsEntries(double fraction)
    {
        if (double.IsNaN(fraction) || fraction is < 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "A fraction is between 0 and 1.");
        }

        Volatile.Write(ref _putRecordsFailFraction, fraction);
    }

    /// <summary>Removes every fault rule and the PutRecords entry failures: everything is forwarded again.</summary>
    public void ClearFaults()
    {
        _rules.Clear();
        Volatile.Write(ref _putRecordsFailFraction, 0);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            // Closes the listening socket and the open connections: nothing answers on the port afterwards.
            await _app.StopAsync().ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _http.Dispose();
        }
    }

    /// <summary>"Kinesis_20131202.GetRecords" and "GetRecords" both name GetRecords.</summary>
    private static string OperationOf(string? target)
    {
        if (string.IsNullOrEmpty(target))
        {
            return "";
        }

        var dot = target.LastIndexOf('.');
        return dot >= 0 ? target[(dot + 1)..] : target;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        string? target = context.Request.Headers["X-Amz-Target"];
        var operation = OperationOf(target);
        var service = ErrorAnswer.ServiceOf(target);
        Increment(_counts, operation);
        try
        {
            var body = await ReadBodyAsync(context.Request, aborted).ConfigureAwait(false);
            if (MatchingRule(operation) is { } rule)
            {
                Increment(_injected, operation);
                var error = ErrorAnswer.For(service, rule.Kind);
                context.Response.Headers["x-amzn-ErrorType"] = error.ErrorType;
                await WriteAnswerAsync(context, error.Status, error.ContentType, error.Body, aborted).ConfigureAwait(false);
                return;
            }

            OnForwarding?.Invoke(operation, body);
            var fraction = Volatile.Read(ref _putRecordsFailFraction);
            if (fraction > 0 && service == AwsService.Kinesis && operation == "PutRecords"
                && IsJson(context.Request.ContentType) && PutRecordsSplit.TryCreate(body, fraction) is { } split)
            {
                await ForwardSplitAsync(context, split, aborted).ConfigureAwait(false);
                return;
            }

            using var request = CreateForwardRequest(context, body);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, aborted).ConfigureAwait(false);
            await CopyResponseAsync(context, response, aborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (HttpRequestException e) when (!context.Response.HasStarted)
        {
            // The emulator is unreachable: say so plainly rather than as a fault the client might mistake for injected.
            var message = System.Text.Encoding.UTF8.GetBytes($"AwsFaultProxy could not reach {Target}: {e.Message}");
            await WriteAnswerAsync(context, HttpStatusCode.BadGateway, "text/plain; charset=utf-8", message, aborted).ConfigureAwait(false);
        }
    }

    /// <summary>The operation's own rule first, then the catch-all; each rule counts only the requests it was asked about.</summary>
    private FaultRule? MatchingRule(string operation)
    {
        if (_rules.TryGetValue(operation, out var own) && own.Next())
        {
            return own;
        }

        return operation != AnyOperation && _rules.TryGetValue(AnyOperation, out var any) && any.Next() ? any : null;
    }

    private async Task ForwardSplitAsync(HttpContext context, PutRecordsSplit split, CancellationToken aborted)
    {
        byte[]? forwarded = null;
        if (split.ForwardBody is { } body)
        {
            using var request = CreateForwardRequest(context, body);
            using var response = await _http.SendAsync(request, aborted).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                // The emulator refused the kept entries as a whole: its answer stands for the whole call.
                await CopyResponseAsync(context, response, aborted).ConfigureAwait(false);
                return;
            }

            forwarded = await response.Content.ReadAsByteArrayAsync(aborted).ConfigureAwait(false);
        }

        var answer = split.BuildAnswer(forwarded);
        Increment(_injected, "PutRecords");
        Interlocked.Add(ref _failedPutRecordsEntries, split.FailedCount);
        await WriteAnswerAsync(context, HttpStatusCode.OK, "application/x-amz-json-1.1", answer, aborted).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken aborted)
    {
        // Buffered whole: AWS JSON calls are small (PutRecords at most ~7 MB), and PutRecords may be rewritten.
        using var buffer = new MemoryStream(request.ContentLength is > 0 and < int.MaxValue ? (int)request.ContentLength.Value : 0);
        await request.Body.CopyToAsync(buffer, aborted).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private HttpRequestMessage CreateForwardRequest(HttpContext context, byte[] body)
    {
        // RawTarget is the path and query exactly as sent: re-encoding them would change what was signed.
        var rawTarget = context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        var message = new HttpRequestMessage(new HttpMethod(context.Request.Method), new Uri(_targetBase + rawTarget));
        if (body.Length > 0 || context.Request.ContentLength is not null || context.Request.ContentType is not null)
        {
            message.Content = new ByteArrayContent(body);
        }

        foreach (var (name, values) in context.Request.Headers)
        {
            if (NotForwarded.Contains(name))
            {
                continue;
            }

            // Content-Type and the like belong to the content, everything else to the request.
            if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                message.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        return message;
    }

    private static async Task CopyResponseAsync(HttpContext context, HttpResponseMessage response, CancellationToken aborted)
    {
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (!NotForwarded.Contains(name))
            {
                context.Response.Headers[name] = values.ToArray();
            }
        }

        // Kept when known, so the client sees the emulator's framing rather than a chunked body.
        context.Response.ContentLength = response.Content.Headers.ContentLength;
        await response.Content.CopyToAsync(context.Response.Body, aborted).ConfigureAwait(false);
    }

    private static async Task WriteAnswerAsync(HttpContext context, HttpStatusCode status, string contentType, byte[] body, CancellationToken aborted)
    {
        context.Response.StatusCode = (int)status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength = body.Length;
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        await context.Response.Body.WriteAsync(body, aborted).ConfigureAwait(false);
    }

    private static bool IsJson(string? contentType) =>
        contentType is not null && contentType.Contains("json", StringComparison.OrdinalIgnoreCase);

    private static void Increment(ConcurrentDictionary<string, Counter> counters, string operation) =>
        Interlocked.Increment(ref counters.GetOrAdd(operation, static _ => new Counter()).Value);

    private static long Read(ConcurrentDictionary<string, Counter> counters, string operation) =>
        counters.TryGetValue(operation, out var counter) ? Interlocked.Read(ref counter.Value) : 0;

    private static Dictionary<string, long> Snapshot(ConcurrentDictionary<string, Counter> counters) =>
        counters.Select(c => (c.Key, Value: Interlocked.Read(ref c.Value.Value)))
            .Where(c => c.Value > 0)
            .ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);

    private sealed class Counter
    {
        public long Value;
    }
}
