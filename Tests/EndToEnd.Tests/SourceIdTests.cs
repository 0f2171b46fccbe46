using System.Net;
using System.Text.Json.Nodes;
using static Analytics.EndToEnd.Tests.SiloApi;

namespace Analytics.EndToEnd.Tests;

/// <summary>
/// A source id may be any contract-valid string, '/', '#', '%', spaces and non-ASCII letters
/// included. Percent-encoded in the path, every /api/sources/{source} endpoint finds it (they
/// answered 404 for such ids before), and the answer names the id as it was sent.
/// </summary>
public sealed class SourceIdTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "e2e-ids-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task Sources_with_slashes_hashes_percent_signs_spaces_and_umlauts_are_found_by_every_source_endpoint()
    {
        string[] sources = ["plant-3/line 2/Gerät", "a#b c", "100%2F", "ключ/сенсор", "plain"];
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var sent = sources.SelectMany((s, i) => Enumerable.Range(0, 3).Select(n => new Sent(s, "ids.temp", 10 * i + n, now - (1000 * n), $"{i}-{n}"))).ToList();

        await using var silo = await SiloProcess.StartAsync(_data);
        await PostAsync(silo, sent.Select(Json));
        await StatsWhenCountReachesAsync(silo, "ids.temp", sent.Count);

        foreach (var source in sources)
        {
            var escaped = Uri.EscapeDataString(source);
            var summary = await GetAsync(silo, $"/api/sources/{escaped}?window=1h");
            Assert.True(summary is not null, $"/api/sources/{escaped} was not found");
            Assert.Equal(source, (string?)summary!["source"]);
            Assert.Equal(3, (long)summary["metrics"]!["ids.temp"]!["count"]!);

            var series = await GetAsync(silo, $"/api/sources/{escaped}/series?metric=ids.temp&step=1m");
            Assert.True(series is not null, $"/api/sources/{escaped}/series was not found");
            Assert.Equal(source, (string?)series!["source"]);
            Assert.Equal(3, series["points"]!.AsArray().Sum(p => (long)p!["count"]!));
        }

        // A literal "%2F" in an id is not a slash: "100%2F" and "100/" are different sources.
        using var other = await silo.Http.GetAsync($"/api/sources/{Uri.EscapeDataString("100/")}?window=1h");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }
}
