using System.Runtime.InteropServices;
using Analytics.Client.Cli;

// The first Ctrl+C (or SIGTERM) asks the running command to stop: it finishes the batch in
// flight, prints its summary and exits 130. A second Ctrl+C ends the process at once.
using var interrupt = new CancellationTokenSource();

void OnSignal(PosixSignalContext context)
{
    if (!interrupt.IsCancellationRequested)
    {
        context.Cancel = true;
        interrupt.Cancel();
    }
}

using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

return await AnalyticsCli.RunAsync(args, CliEnvironment.ForConsole(), interrupt.Token);
