using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Analytics.EndToEnd.Tests;

/// <summary>The HTTP calls and checks the end-to-end tests share: posting events, reading stats, and comparing them with a model.</summary>
internal static class SiloApi
{
    public sealed record Sent(string Source, string Metric, double Value, long Timestamp, string? Id);

    public static string Iso(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    public static string Json(Sent e) =>
        $"{{\"source\":\"{e.Source}\",\"metric\":\"{e.Metric}\",\"value\":{e.Value.ToString("R", CultureInfo.InvariantCulture)},\"timestamp\":\"{Iso(e.Timestamp)}\"{(e.Id is null ? "" : $",\"id\":\"{e.Id}\"")}}}";

    public static async Task<JsonObject> PostAsync(SiloProcess silo, IEnumerable<string> elements, HttpStatusCode expected = HttpStatusCode.Accepted)
    {
        using var response = await silo.Http.PostAsync("/api/events", new StringContent("[" + string.Join(",", elements) + "]", Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {expected}, got {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    /// <summary>
    /// GETs a JSON body, retrying 503 for up to 15 s as the contract tells clients to: a silo that
    /// restarted beside its dead predecessor's row routes some grains there until the cluster
    /// votes the predecessor dead (a few seconds).
    /// </summary>
    public static async Task<JsonObject?> GetAsync(SiloProcess silo, string path)
    {
        var retryUntil = DateTime.UtcNow.AddSeconds(15);
        var response = await silo.Http.GetAsync(path);
        while (response.StatusCode == HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < retryUntil)
        {
            response.Dispose();
            await Task.Delay(250);
            response = await silo.Http.GetAsync(path);
        }

        using var _ = response;
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    public static async Task<JsonObject> StatsWhenCountReachesAsync(SiloProcess silo, string metric, long count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        JsonObject? stats = null;
        while (DateTime.UtcNow < deadline)
        {
            stats = await GetAsync(silo, $"/api/metrics/{metric}/stats?window=1h");
            if (stats is not null && (long)stats["count"]! >= count)
            {
                // Give a replay the chance to count something twice before we look.
                await Task.Delay(1500);
                return (await GetAsync(silo, $"/api/metrics/{metric}/stats?window=1h"))!;
            }

            await Task.Delay(100);
        }

        throw new Xunit.Sdk.XunitException($"{metric} never reached count {count}; last stats: {stats?.ToJsonString()}\n{silo.Output}");
    }

    public static void AssertStats(JsonObject stats, IReadOnlyList<Sent> accepted, int late, int distinct)
    {
        var values = accepted.Select(e => e.Value).Order().ToList();
        Assert.Equal(values.Count, (long)stats["count"]!);
        Assert.Equal(values.Sum(), (double)stats["sum"]!);
        Assert.Equal(values[0], (double)stats["min"]!);
        Assert.Equal(values[^1], (double)stats["max"]!);
        Assert.Equal(values.Sum() / values.Count, (double)stats["mean"]!, 9);
        foreach (var (name, q) in new[] { ("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99) })
        {
            var truth = values[(int)Math.Floor(q * (values.Count - 1))];
            var reported = (double)stats[name]!;
            Assert.True(Math.Abs(reported - truth) <= 0.01 * Math.Abs(truth) + 1e-9, $"{name}: reported {reported}, true {truth}");
        }

        Assert.Equal(distinct, (long)stats["distinctSources"]!);
        Assert.Equal(late, (long)stats["late"]!);
    }
}
