using System.Net;
using System.Text;

namespace Analytics.Aws.Tests;

/// <summary>Answers the client's HTTP calls from a script, and keeps what was sent, for tests without an emulator.</summary>
internal sealed class FakeKinesisHandler(params Func<HttpRequestMessage, HttpResponseMessage>[] answers) : HttpMessageHandler
{
    private readonly List<SentRequest> _sent = [];

    /// <summary>Copies of what was sent: the client disposes its request messages after each call.</summary>
    public IReadOnlyList<SentRequest> Sent => _sent;

    public static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/x-amz-json-1.1") };

    public static Func<HttpRequestMessage, HttpResponseMessage> Answer(HttpStatusCode status, string json) => _ => Json(status, json);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        var headers = request.Headers.Concat(request.Content?.Headers ?? Enumerable.Empty<KeyValuePair<string, IEnumerable<string>>>())
            .ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(',', h.Value), StringComparer.Ordinal);
        _sent.Add(new SentRequest(request.Method, request.RequestUri!, headers, body));
        // The last answer repeats, so a script of one answers every call.
        return answers[Math.Min(_sent.Count, answers.Length) - 1](request);
    }
}

/// <summary>One call as it left the client: header names in lower case, as SigV4 canonicalises them.</summary>
internal sealed record SentRequest(HttpMethod Method, Uri Uri, IReadOnlyDictionary<string, string> Headers, string Body);
