using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Analytics.Bench.Kinesis;

/// <summary>
/// A silo process in AWS mode (as Tests/EndToEnd.Tests/AwsSilo.cs and SiloProcess.cs start it) on
/// 127.0.0.1 and a free port. Disposing it kills it with its process tree; so does the bench's exit
/// by any path that runs ProcessExit handlers (<see cref="KillAll"/>).
/// </summary>
internal sealed class BenchSilo : IDisposable
{
    private static readonly ConcurrentDictionary<int, Process> Running = new();
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _tail = new();
    private int _echoed;

    private BenchSilo(Process process, int port)
    {
        _process = process;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Http { get; }

    public Process Process => _process;

    /// <summary>The silo's last lines of output (warnings and errors only), for failure messages.</summary>
    public string OutputTail => string.Join(Environment.NewLine, _tail);

    /// <param name="extra">Further --key=value settings (the checkpoint override).</param>
    /// <param name="siloDll">The silo to run; null for this repository's Silo build of the same configuration.</param>
    public static BenchSilo Start(string stream, Uri kinesisUrl, Uri dynamoDbUrl, string tablePrefix, IEnumerable<string> extra, string? siloDll = null)
    {
        var port = FreePort();

        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var dll = siloDll ?? Path.GetFullPath(Path.Combine(here.FullName, "../../../../../Silo/bin", here.Parent!.Name, here.Name, "Analytics.Silo.dll"));
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"The silo is not built at {dll}: dotnet build -c Release Silo");
        }

        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(dll)! };
        string[] arguments =
        [
            dll, $"--Http:Port={port}", "--Http:Address=127.0.0.1",
            $"--Kinesis:StreamName={stream}", $"--Kinesis:ServiceUrl={kinesisUrl}",
            $"--DynamoDB:ServiceUrl={dynamoDbUrl}", $"--DynamoDB:TablePrefix={tablePrefix}", "--AWS:Region=us-east-1",
            $"--Silo:Port={FreePort()}", $"--Gateway:Port={FreePort()}", "--Silo:ListenAddress=127.0.0.1",
            .. extra,
        ];
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["AWS_ACCESS_KEY_ID"] = "test";
        start.Environment["AWS_SECRET_ACCESS_KEY"] = "test";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        var process = Process.Start(start)!;
        Running[process.Id] = process;
        var silo = new BenchSilo(process, port);
        process.OutputDataReceived += (_, e) => silo.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => silo.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    /// <summary>Kills every silo still running: the last resort on exit.</summary>
    public static void KillAll()
    {
        foreach (var process in Running.Values)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }
    }

    public async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the silo exited with code {_process.ExitCode} before it was ready:{Environment.NewLine}{OutputTail}");
            }

            try
            {
                using var response = await Http.GetAsync("/health/ready", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new TimeoutException($"the silo was not ready within {timeout.TotalSeconds:0} s:{Environment.NewLine}{OutputTail}");
    }

    /// <summary>The metric's count and sum over the last hour; (0, 0) while the silo does not know it yet.</summary>
    public async Task<(long Count, long Sum)> StatsAsync(string metric, CancellationToken cancellationToken)
    {
        using var response = await Http.GetAsync($"/api/metrics/{metric}/stats?window=1h", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return (0, 0);
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"GET stats of {metric}: {(int)response.StatusCode} {body}");
        }

        var stats = JsonNode.Parse(body)!;
        return ((long)stats["count"]!, (long)Math.Round((double)stats["sum"]!));
    }

    public async Task<long> TotalAsync(IEnumerable<string> metrics, CancellationToken cancellationToken)
    {
        var counts = await Task.WhenAll(metrics.Select(m => StatsAsync(m, cancellationToken)));
        return counts.Sum(c => c.Count);
    }

    /// <summary>
    /// Polls every <paramref name="every"/> until the metrics' counts add up to at least
    /// <paramref name="expected"/>: the last total either way, and when the first count was seen.
    /// </summary>
    public async Task<(long Total, TimeSpan FirstCounted)> WaitTotalAsync(IReadOnlyList<string> metrics, long expected, TimeSpan every, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var lastProgress = TimeSpan.Zero;
        long total = 0;
        TimeSpan? first = null;
        while (watch.Elapsed < timeout)
        {
            total = await TotalAsync(metrics, cancellationToken);
            if (total > 0)
            {
                first ??= watch.Elapsed;
            }

            if (total >= expected)
            {
                return (total, first ?? watch.Elapsed);
            }

            if (watch.Elapsed - lastProgress >= TimeSpan.FromSeconds(2))
            {
                lastProgress = watch.Elapsed;
                Console.Error.WriteLine($"  {what} {watch.Elapsed.TotalSeconds,5:0} s  counted {total,12:N0} of {expected:N0}");
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the silo exited with code {_process.ExitCode}:{Environment.NewLine}{OutputTail}");
            }

            await Task.Delay(every, cancellationToken);
        }

        return (total, first ?? watch.Elapsed);
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

        Running.TryRemove(_process.Id, out _);
        Http.Dispose();
        _process.Dispose();
    }

    /// <summary>A loopback port free right now (bound and released; good enough on one machine).</summary>
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        // The silo logs warnings and errors only: show them as they come, up to a point.
        if (Interlocked.Increment(ref _echoed) <= 200)
        {
            Console.Error.WriteLine("silo: " + line);
        }

        _tail.Enqueue(line);
        while (_tail.Count > 100 && _tail.TryDequeue(out _))
        {
        }
    }
}
