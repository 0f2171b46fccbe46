using System.Diagnostics;
using System.Globalization;
using System.Text;
using Analytics.Streaming.LocalLog;

namespace Analytics.Streaming.Tests;

/// <summary>
/// Runs a local-log writer in a real process, kills it with SIGKILL mid-write, and checks that
/// every append it had acknowledged is on disk: the embedded log's durability promise.
/// </summary>
public sealed class LocalLogDurabilityTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "local-log-kill-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public async Task Appends_acknowledged_before_a_SIGKILL_are_all_there_after_it_once_and_in_order()
    {
        var acked = await RunAndKillAsync(acknowledgements: 2000);

        await using var log = new LocalLogStore(new LocalLogOptions { DataPath = _folder, Partitions = 4 }, TimeProvider.System);
        var found = new Dictionary<string, List<int>>();
        for (var partition = 0; partition < log.Partitions; partition++)
        {
            await using var reader = log.CreateReader(partition);
            await reader.InitializeAsync(null, CancellationToken.None);
            IReadOnlyList<QueueRecord> batch;
            while ((batch = await reader.ReadAsync(1000, CancellationToken.None)).Count > 0)
            {
                foreach (var record in batch)
                {
                    var text = Encoding.UTF8.GetString(record.Data.Span).Split(':');
                    Assert.Equal(text[0], record.StreamKey);
                    Assert.Equal(partition, log.PartitionOf(record.StreamKey));
                    (found.TryGetValue(text[0], out var list) ? list : found[text[0]] = []).Add(int.Parse(text[1], CultureInfo.InvariantCulture));
                }
            }
        }

        foreach (var (key, n) in acked)
        {
            var values = found[key];
            // Every acknowledged append is present, once, and in order (a later one whose
            // acknowledgement the kill cut off may be there too).
            Assert.Equal(Enumerable.Range(1, values.Count), values);
            Assert.True(values.Count >= n, $"{key}: acknowledged {n}, found {values.Count}");
        }
    }

    private static string TargetPath()
    {
        // The test's output folder is .../Tests/Streaming.Tests/bin/<Configuration>/net10.0/.
        var output = new DirectoryInfo(AppContext.BaseDirectory);
        var path = Path.GetFullPath(Path.Combine(output.FullName, "../../../../Streaming.KillTarget/bin", output.Parent!.Name, output.Name, "Streaming.KillTarget.dll"));
        Assert.True(File.Exists(path), $"The kill target was not built at {path}.");
        return path;
    }

    /// <summary>Runs the target until it has acknowledged enough appends, kills it, and returns the last acknowledged n per key.</summary>
    private async Task<Dictionary<string, int>> RunAndKillAsync(int acknowledgements)
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", [TargetPath(), _folder])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var acked = new Dictionary<string, int>();
        var count = 0;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (count < acknowledgements && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                var parts = line.Split(' ');
                acked[parts[1]] = int.Parse(parts[2], CultureInfo.InvariantCulture);
                count++;
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true); // SIGKILL on Linux
            await process.WaitForExitAsync();
        }

        Assert.True(count >= acknowledgements, $"The target stopped after {count} acknowledgements: {await process.StandardError.ReadToEndAsync()}");
        return acked;
    }
}
