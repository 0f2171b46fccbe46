using Microsoft.Extensions.Options;

namespace Analytics.Silo.Hosting;

/// <summary>
/// Ends the process when a graceful stop overruns. The generic host cancels its stop token after
/// <see cref="HostOptions.ShutdownTimeout"/>, but it still waits for every participant, and one
/// that keeps retrying an unreachable DynamoDB would keep the process alive for ever. Exiting is
/// safe at any instant: what was not checkpointed is read again from the stream by the next owner.
/// A forced stop ends the process with SIGKILL (exit status 137), as ECS would 30 s after SIGTERM.
/// </summary>
internal sealed partial class ShutdownWatchdog(
    IHostApplicationLifetime lifetime,
    IOptions<HostOptions> host,
    TimeProvider time,
    ILogger<ShutdownWatchdog> logger) : IHostedService
{
    // Time for the host's own cancellation to take effect before the process is ended.
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);

    private CancellationTokenRegistration _registration;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registration = lifetime.ApplicationStopping.Register(Arm);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Arm()
    {
        var limit = host.Value.ShutdownTimeout + Grace;
        _ = Task.Run(async () =>
        {
            await Task.Delay(limit, time);
            LogForcedExit(limit.TotalSeconds);
            // Let the console logger write the line; then end as ECS's SIGKILL would. Not
            // Environment.Exit: its exit handlers include the host's, which waits for the same stop.
            await Task.Delay(TimeSpan.FromMilliseconds(300), time);
            System.Diagnostics.Process.GetCurrentProcess().Kill();
        });
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The silo did not stop within {Seconds} s (a store or stream may be unreachable); ending the process. Nothing is lost: unacknowledged work is read again from the stream.")]
    private partial void LogForcedExit(double seconds);
}
