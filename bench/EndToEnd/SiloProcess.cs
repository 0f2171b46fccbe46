using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Analytics.Bench.EndToEnd;

/// <summary>
/// One silo binary started in embedded mode on free loopback ports with its own data folder;
/// disposing it kills it and deletes the folder. Both builds take the same arguments: the old one
/// ignores the silo and gateway ports in embedded mode (it opened none), the new one (Orleans'
/// localhost clustering) would otherwise take 11111 and 30000, which others may hold on a shared
/// machine.
/// </summary>
internal sealed class SiloProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _data;

    private SiloProcess(string name, Process process, string data, int port)
    {
        Name = name;
        _process = process;
        _data = data;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Name { get; }

    public HttpClient Http { get; }

    public Process Process => _process;

    public static SiloProcess Start(string name, string dll)
    {
        var port = FreePort();
        var data = Path.Combine(Path.GetTempPath(), $"e2e-bench-{name}-" + Guid.NewGuid().ToString("N")[..8]);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(dll)! };
        // E2E_SILO_ARGS adds configuration to every silo of the run, e.g. "--Streams:CheckpointInterval=00:00:05".
        // E2E_SILO_ARGS_<name> adds configuration to the silo of that name only.
        var extra = $"{Environment.GetEnvironmentVariable("E2E_SILO_ARGS")} {Environment.GetEnvironmentVariable("E2E_SILO_ARGS_" + name)}".Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var a in new[] { dll, $"--Http:Port={port}", "--Http:Address=127.0.0.1", $"--Embedded:DataPath={data}", $"--Silo:Port={FreePort()}", $"--Gateway:Port={FreePort()}" }.Concat(extra))
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["Logging__LogLevel__Default"] = "Warning";
        // E2E_SILO_ENV_<name> sets runtime settings of that silo only, e.g. "DOTNET_gcServer=0", to compare them in one run.
        foreach (var pair in (Environment.GetEnvironmentVariable("E2E_SILO_ENV_" + name) ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = pair.Split('=', 2) is [var k, var v] ? (k, v) : throw new ArgumentException($"E2E_SILO_ENV_{name}: '{pair}' is not KEY=VALUE");
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Console.Error.WriteLine($"{name} silo: {e.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new SiloProcess(name, process, data, port);
    }

    public async Task WaitReadyAsync()
    {
        for (var i = 0; i < 600; i++)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the {Name} silo exited with code {_process.ExitCode}");
            }

            try
            {
                using var response = await Http.GetAsync("/health/ready");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"the {Name} silo did not become ready in 60 s");
    }

    /// <summary>CPU time the silo process has used so far.</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.TotalProcessorTime;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        Http.Dispose();
        _process.Dispose();
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
            // Not there, or a file still held for a moment; the folder is under the temp folder.
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
