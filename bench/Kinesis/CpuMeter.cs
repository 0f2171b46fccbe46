using System.Diagnostics;
using System.Globalization;

namespace Analytics.Bench.Kinesis;

/// <summary>
/// CPU time used by each process of the bench (this one, the silo, kinesis-mock, dynalite) between
/// two marks: where the two shared cores went during a phase.
/// </summary>
internal sealed class CpuMeter(Func<Process?> silo)
{
    private const string Machine = "machine (all processes)";
    private Dictionary<string, TimeSpan> _start = [];
    private long _started;

    public void Mark()
    {
        _start = Read();
        _started = Stopwatch.GetTimestamp();
    }

    /// <summary>CPU seconds per process since the last mark, and the wall-clock seconds.</summary>
    public (Dictionary<string, double> Cpu, double Wall) Since()
    {
        var wall = Stopwatch.GetElapsedTime(_started).TotalSeconds;
        return (Read().ToDictionary(p => p.Key, p => (p.Value - _start.GetValueOrDefault(p.Key)).TotalSeconds, StringComparer.Ordinal), wall);
    }

    /// <summary>"bench 0.10, silo 1.62, ...": cores used, CPU seconds per wall-clock second.</summary>
    public static string Cores((Dictionary<string, double> Cpu, double Wall) used)
    {
        var ours = used.Cpu.Where(p => p.Key != Machine).Sum(p => p.Value);
        var others = Math.Max(0, used.Cpu.GetValueOrDefault(Machine) - ours);
        return string.Join(", ", used.Cpu.Select(p => $"{p.Key} {p.Value / used.Wall:0.00}")) + $" (other work on the machine {others / used.Wall:0.00})";
    }

    private Dictionary<string, TimeSpan> Read()
    {
        var times = new Dictionary<string, TimeSpan>(StringComparer.Ordinal)
        {
            ["bench"] = Process.GetCurrentProcess().TotalProcessorTime,
        };
        try
        {
            if (silo() is { HasExited: false } s)
            {
                s.Refresh();
                times["silo"] = s.TotalProcessorTime;
            }
        }
        catch (InvalidOperationException)
        {
            // It exited in between.
        }

        foreach (var (pid, name) in NodeChildren())
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                times[name] = p.TotalProcessorTime;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // It exited in between.
            }
        }

        times[Machine] = MachineBusy();
        return times;
    }

    /// <summary>Busy CPU time of the whole machine (every process, ours and others'), from /proc/stat.</summary>
    private static TimeSpan MachineBusy()
    {
        // cpu  user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait, in 1/100 s.
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var busy = fields.Take(8).Sum() - fields[3] - fields[4];
        return TimeSpan.FromSeconds(busy / 100.0);
    }

    /// <summary>The emulators: node processes whose parent is this process, named by their entry point.</summary>
    private static IEnumerable<(int Pid, string Name)> NodeChildren()
    {
        var self = Environment.ProcessId;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            string stat, cmdline;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length > 1 && fields[1] == self.ToString(CultureInfo.InvariantCulture) && cmdline.Contains("node", StringComparison.Ordinal))
            {
                yield return (pid, cmdline.Contains("main.js", StringComparison.Ordinal) ? "kinesis-mock" : cmdline.Contains("cli.js", StringComparison.Ordinal) ? "dynalite" : $"node {pid}");
            }
        }
    }
}
