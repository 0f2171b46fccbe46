using System.Net;
using System.Net.Sockets;
using System.Text;
using Analytics.Testing.AwsFaultProxy;

namespace Analytics.Aws.Tests;

/// <summary>
/// What the proxy passes on, checked against a plain HTTP listener that echoes what it saw: the
/// emulators accept any signature, so only this shows that the signed parts arrive untouched.
/// </summary>
public sealed class AwsFaultProxyForwardingTests
{
    [Fact]
    public async Task Method_raw_path_and_query_headers_and_body_go_on_unchanged_and_the_answer_comes_back_whole()
    {
        using var listener = StartListener(out var target);
        var seen = ServeOnceAsync(listener);
        await using var proxy = await AwsFaultProxy.StartAsync(target);
        using var http = new HttpClient();

        // An encoded slash and unsorted query: re-encoding either would change the SigV4 canonical request.
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(proxy.Url, "/a%2Fb/c?z=1&a=%2F"))
        {
            Content = new ByteArrayContent("{\"StreamName\":\"s\"}"u8.ToArray()),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/x-amz-json-1.1");
        request.Headers.TryAddWithoutValidation("X-Amz-Target", "Kinesis_20131202.DescribeStreamSummary");
        request.Headers.TryAddWithoutValidation("X-Amz-Date", "20260101T000000Z");
        request.Headers.TryAddWithoutValidation("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=abc");
        using var response = await http.SendAsync(request);

        var (method, rawUrl, headers, body) = await seen;
        Assert.Equal("POST", method);
        Assert.Equal("/a%2Fb/c?z=1&a=%2F", rawUrl);
        Assert.Equal("{\"StreamName\":\"s\"}", body);
        Assert.Equal("application/x-amz-json-1.1", headers["Content-Type"]);
        Assert.Equal("Kinesis_20131202.DescribeStreamSummary", headers["X-Amz-Target"]);
        Assert.Equal("20260101T000000Z", headers["X-Amz-Date"]);
        Assert.StartsWith("AWS4-HMAC-SHA256 Credential=test/", headers["Authorization"], StringComparison.Ordinal);
        Assert.Equal(target.Authority, headers["Host"]);

        Assert.Equal((HttpStatusCode)418, response.StatusCode);
        Assert.Equal("12345", Assert.Single(response.Headers.GetValues("x-amz-crc32")));
        Assert.Equal("application/x-amz-json-1.0", response.Content.Headers.ContentType?.ToString());
        Assert.Equal("{\"echo\":true}", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, proxy.Count("DescribeStreamSummary"));
    }

    [Fact]
    public async Task Faults_are_answered_without_forwarding_and_unreachable_targets_answer_502()
    {
        // A port nobody listens on: any forwarded request would fail.
        using var listener = StartListener(out var target);
        listener.Stop();
        await using var proxy = await AwsFaultProxy.StartAsync(target);
        using var http = new HttpClient();
        proxy.Throttle("PutItem", probability: 1);

        using var throttled = await http.SendAsync(Call(proxy, "DynamoDB_20120810.PutItem"));
        Assert.Equal(HttpStatusCode.BadRequest, throttled.StatusCode);
        Assert.Equal("application/x-amz-json-1.0", throttled.Content.Headers.ContentType?.ToString());
        Assert.Contains("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", await throttled.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var forwarded = await http.SendAsync(Call(proxy, "DynamoDB_20120810.GetItem"));
        Assert.Equal(HttpStatusCode.BadGateway, forwarded.StatusCode);
        Assert.Equal(new Dictionary<string, long> { ["PutItem"] = 1, ["GetItem"] = 1 }, proxy.Counts);
        Assert.Equal(new Dictionary<string, long> { ["PutItem"] = 1 }, proxy.InjectedCounts);
    }

    private static HttpRequestMessage Call(AwsFaultProxy proxy, string target)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, proxy.Url) { Content = new StringContent("{}") };
        request.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        return request;
    }

    /// <summary>An HttpListener on a free loopback port (HttpListener cannot bind port 0 itself).</summary>
    private static HttpListener StartListener(out Uri url)
    {
        for (var attempt = 0; ; attempt++)
        {
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                url = new Uri($"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}/");
            }

            var listener = new HttpListener();
            listener.Prefixes.Add(url.ToString());
            try
            {
                listener.Start();
                return listener;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // Another process took the port between the probe and the bind.
                listener.Close();
            }
        }
    }

    private static async Task<(string Method, string RawUrl, Dictionary<string, string> Headers, string Body)> ServeOnceAsync(HttpListener listener)
    {
        var context = await listener.GetContextAsync();
        using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var headers = context.Request.Headers.AllKeys.OfType<string>()
            .ToDictionary(k => k, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);

        context.Response.StatusCode = 418;
        context.Response.ContentType = "application/x-amz-json-1.0";
        context.Response.Headers["x-amz-crc32"] = "12345";
        var answer = "{\"echo\":true}"u8.ToArray();
        context.Response.ContentLength64 = answer.Length;
        await context.Response.OutputStream.WriteAsync(answer);
        context.Response.Close();
        return (context.Request.HttpMethod, context.Request.RawUrl!, headers, body);
    }
}
