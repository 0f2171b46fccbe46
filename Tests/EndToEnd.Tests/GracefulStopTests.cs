using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Analytics.EndToEnd.Tests;

/// <summary>SIGTERM: the silo stops taking work, flushes its grains and checkpoints, and exits 0.</summary>
public sealed class GracefulStopTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "e2e-term-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private static async Task<long> CountAsync(SiloProcess silo)
    {
        using var response = await silo.Http.GetAsync("/api/metrics/term.m/stats?window=1h");
        return response.IsSuccessStatusCode ? (long)(await response.Content.ReadFromJsonAsync<JsonObject>())!["count"]! : 0;
    }

    [Fact]
    public async Task A_SIGTERM_stops_the_silo_cleanly_and_a_restart_finds_everything_counted_once()
    {
        var events = string.Join("\n", Enumerable.Range(0, 2000).Select(n => $"{{\"source\":\"s-{n % 37}\",\"metric\":\"term.m\",\"value\":{n % 11},\"id\":\"t-{n}\"}}"));
        await using (var silo = await SiloProcess.StartAsync(_data))
        {
            using var response = await silo.Http.PostAsync("/api/events", new StringContent(events, Encoding.UTF8, "application/x-ndjson"));
            Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (await CountAsync(silo) < 2000 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.Equal(2000, await CountAsync(silo));
            Assert.Equal(0, await silo.TerminateAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains("stopped", silo.Output, StringComparison.OrdinalIgnoreCase);
        }

        // The checkpoint was written on the way out, so the restarted silo has nothing to replay;
        // either way, every event counts once.
        await using var restarted = await SiloProcess.StartAsync(_data);
        await Task.Delay(1500);
        Assert.Equal(2000, await CountAsync(restarted));
        var cluster = (await restarted.Http.GetFromJsonAsync<JsonObject>("/api/cluster"))!;
        var queues = cluster["silos"]!.AsArray().Single(s => (bool)s!["isSelf"]!)!["queues"]!.AsArray();
        Assert.All(queues, q => Assert.Equal(0, (long)q!["events"]!));
    }
}
