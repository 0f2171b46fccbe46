using System.Diagnostics;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.LocalLog;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.Runtime.Tests;

/// <summary>
/// Runs a writer in a real process, kills it with SIGKILL mid-write, and checks that every write
/// it had acknowledged is on disk: the embedded stores' durability promise.
/// </summary>
public sealed class KillDurabilityTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "kill-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    private static string TargetPath()
    {
        // The test's output folder is .../Tests/Runtime.Tests/bin/<Configuration>/net10.0/.
        var testOutput = new DirectoryInfo(AppContext.BaseDirectory);
        var framework = testOutput.Name;
        var configuration = testOutput.Parent!.Name;
        var path = Path.GetFullPath(Path.Combine(testOutput.FullName, "../../../../Runtime.KillTarget/bin", configuration, framework, "Runtime.KillTarget.dll"));
        Assert.True(File.Exists(path), $"The kill target was not built at {path}.");
        return path;
    }

    /// <summary>Runs the target until it has acknowledged enough writes, kills it, and returns the last acknowledged n per key.</summary>
    private static async Task<Dictionary<string, int>> RunAndKillAsync(string mode, string path, int acknowledgements)
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", [TargetPath(), mode, path])
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
                acked[parts[1]] = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
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

    [Fact]
    public async Task Sqlite_grain_state_written_before_a_SIGKILL_is_there_after_it()
    {
        var file = Path.Combine(_folder, "state.db");
        var acked = await RunAndKillAsync("state", file, acknowledgements: 2000);

        var storage = new SqliteGrainStorage(new SqliteGrainStorageOptions { FilePath = file }, NullLogger<SqliteGrainStorage>.Instance);
        foreach (var (key, n) in acked)
        {
            var state = new Counter();
            await storage.ReadStateAsync("s", new GrainId("counter", key), state, default);
            // The last acknowledged value, or a later one whose acknowledgement the kill cut off.
            Assert.True(state.State >= n, $"{key}: acknowledged {n}, found {state.State}");
        }

        await storage.DisposeAsync();
    }

    [Fact]
    public async Task Local_log_appends_acknowledged_before_a_SIGKILL_are_all_there_after_it()
    {
        var acked = await RunAndKillAsync("log", _folder, acknowledgements: 2000);

        var adapter = new LocalLogQueueAdapter("kill", new LocalLogOptions { DataPath = _folder, Partitions = 4 }, TimeProvider.System);
        var found = new Dictionary<string, List<int>>();
        foreach (var queue in await adapter.GetQueuesAsync(default))
        {
            await using var receiver = adapter.CreateReceiver(queue);
            await receiver.InitializeAsync(null, default);
            IReadOnlyList<QueueRecord> batch;
            while ((batch = await receiver.GetMessagesAsync(1000, default)).Count > 0)
            {
                foreach (var record in batch)
                {
                    var text = System.Text.Encoding.UTF8.GetString(record.Data.Span).Split(':');
                    (found.TryGetValue(text[0], out var list) ? list : found[text[0]] = []).Add(int.Parse(text[1], System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }

        await adapter.DisposeAsync();
        foreach (var (key, n) in acked)
        {
            var values = found[key];
            // Every acknowledged append is present, once, and in order.
            Assert.Equal(Enumerable.Range(1, values.Count), values);
            Assert.True(values.Count >= n, $"{key}: acknowledged {n}, found {values.Count}");
        }
    }

    private sealed class Counter : IGrainState<int>
    {
        public int State { get; set; }

        public string? ETag { get; set; }

        public bool RecordExists { get; set; }
    }
}
