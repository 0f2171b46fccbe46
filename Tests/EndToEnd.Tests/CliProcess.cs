using System.Diagnostics;

namespace Analytics.EndToEnd.Tests;

/// <summary>Runs the built <c>analytics</c> tool as a user would, as its own process, and returns what it printed.</summary>
internal static class CliProcess
{
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(ToolPath());
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output + await error);
    }

    private static string ToolPath()
    {
        // Built beside this test's output, as the silo is (see SiloProcess).
        var output = new DirectoryInfo(AppContext.BaseDirectory);
        var path = Path.GetFullPath(Path.Combine(output.FullName, "../../../../../Client/bin", output.Parent!.Name, output.Name, "analytics.dll"));
        return File.Exists(path) ? path : throw new FileNotFoundException($"The analytics tool was not built at {path}.");
    }
}
