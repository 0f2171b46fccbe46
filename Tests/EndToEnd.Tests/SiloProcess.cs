using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Analytics.EndToEnd.Tests;

/// <summary>
/// A silo in its own process on 127.0.0.1 and a free port. Disposing it kills the process, so no
/// process or port outlives its test.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private bool _disposed;

    private SiloProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Port { get; }

    public HttpClient Http { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static Task<SiloProcess> StartAsync(string dataPath, params string[] extraArguments) =>
        StartAsync(dataPath, new Dictionary<string, string>(), extraArguments);

    /// <param name="environment">Extra environment variables (AWS credentials for the emulators, say).</param>
    public static async Task<SiloProcess> StartAsync(string dataPath, IReadOnlyDictionary<string, string> environment, IEnumerable<string> extraArguments)
    {
        var port = TestPorts.FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(SiloPath())!,
        };
        // Free silo and gateway ports too, so that silos of parallel tests never collide (arguments
        // given later, such as an AWS silo's own ports, win).
        foreach (var argument in new[] { SiloPath(), $"--Http:Port={port}", "--Http:Address=127.0.0.1", $"--Embedded:DataPath={dataPath}", $"--Silo:Port={TestPorts.FreePort()}", $"--Gateway:Port={TestPorts.FreePort()}" }.Concat(extraArguments))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__LogLevel__Analytics.Silo.Hosting.SiloLifetimeLog"] = "Information";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var silo = new SiloProcess(Process.Start(start)!, port);
        await silo.WaitUntilReadyAsync();
        return silo;
    }

    private async Task WaitUntilReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The silo exited with code {_process.ExitCode} before it was ready:\n{Output}");
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

        throw new TimeoutException($"The silo was not ready within 60 s:\n{Output}");
    }

    /// <summary>SIGTERM, as ECS sends on a scale-in: the silo should stop gracefully and exit 0.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var limit = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(limit.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: the process gets no chance to flush or checkpoint anything.</summary>
    public async Task KillAsync()
    {
        if (_disposed)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>Kills the process and frees it; disposing twice (a test's finally after a restart that failed) does nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        await KillAsync();
        _disposed = true;
        Http.Dispose();
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    public bool HasExited => _process.HasExited;

    private static string SiloPath()
    {
        // This test's output is .../Tests/EndToEnd.Tests/bin/<Configuration>/<tfm>/; the silo is built beside it.
        var output = new DirectoryInfo(AppContext.BaseDirectory);
        var path = Path.GetFullPath(Path.Combine(output.FullName, "../../../../../Silo/bin", output.Parent!.Name, output.Name, "Analytics.Silo.dll"));
        return File.Exists(path) ? path : throw new FileNotFoundException($"The silo was not built at {path}.");
    }
}
