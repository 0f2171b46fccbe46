using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Analytics.Aws.Tests;

/// <summary>
/// One emulator (a node process) on free loopback ports. Started ready (it answers HTTP), and
/// killed with its whole process tree on dispose. Its stdin stays open to us: the emulators are
/// started with exit-with-parent.cjs, so they also end if this test process dies without cleanup.
/// </summary>
internal sealed class EmulatorProcess : IAsyncDisposable
{
    private const int PortAttempts = 3;
    private const int OutputLinesKept = 200;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output;

    private EmulatorProcess(string name, Process process, ConcurrentQueue<string> output, int[] ports)
    {
        Name = name;
        _process = process;
        _output = output;
        Ports = ports;
    }

    public string Name { get; }

    public int ProcessId => _process.Id;

    /// <summary>The ports it listens on; the first is the one it answers HTTP on.</summary>
    public IReadOnlyList<int> Ports { get; }

    public Uri Url => new($"http://127.0.0.1:{Ports[0]}");

    /// <summary>What the emulator printed last, for failure messages.</summary>
    public string OutputTail => string.Join(Environment.NewLine, _output);

    /// <param name="createStartInfo">Builds the command line for the given free ports.</param>
    public static async Task<EmulatorProcess> StartAsync(string name, int portCount, Func<int[], ProcessStartInfo> createStartInfo, TimeSpan readyTimeout)
    {
        for (var attempt = 1; ; attempt++)
        {
            var ports = FreeLoopbackPorts(portCount);
            var output = new ConcurrentQueue<string>();
            var startInfo = createStartInfo(ports);
            startInfo.UseShellExecute = false;
            startInfo.RedirectStandardInput = true;
            startInfo.RedirectStandardOutput = true;
            startInfo.RedirectStandardError = true;

            var process = new Process { StartInfo = startInfo };
            DataReceivedEventHandler keep = (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }

                output.Enqueue(e.Data);
                while (output.Count > OutputLinesKept && output.TryDequeue(out string? _))
                {
                }
            };
            process.OutputDataReceived += keep;
            process.ErrorDataReceived += keep;
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            var emulator = new EmulatorProcess(name, process, output, ports);
            var failure = await emulator.WaitUntilReadyAsync(readyTimeout);
            if (failure is null)
            {
                return emulator;
            }

            await emulator.DisposeAsync();
            // A free port can be taken by someone else between our probe and the emulator's bind.
            if (attempt < PortAttempts && emulator.OutputTail.Contains("EADDRINUSE", StringComparison.Ordinal))
            {
                continue;
            }

            throw new InvalidOperationException(
                $"{name} did not start ({failure}). Command: {startInfo.FileName} {string.Join(' ', startInfo.ArgumentList)} in {startInfo.WorkingDirectory}. "
                + $"If the emulators are not installed, run Tests/Emulators/install.sh. Its output:{Environment.NewLine}{emulator.OutputTail}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
        {
            // Never started or already gone: nothing left to stop.
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>Null once the emulator answers HTTP; otherwise why it never will.</summary>
    private async Task<string?> WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                // Let the output readers drain what it printed before it died.
                await _process.WaitForExitAsync();
                return $"it exited with code {_process.ExitCode}";
            }

            try
            {
                // Any HTTP answer will do (both emulators answer a bare GET with an error).
                using var response = await http.GetAsync(Url);
                return null;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                await Task.Delay(100);
            }
        }

        return $"no HTTP answer on {Url} within {timeout.TotalSeconds:0} s";
    }

    /// <summary>Ports free on 127.0.0.1 now, all different (the listeners are held until all are found).</summary>
    private static int[] FreeLoopbackPorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}
