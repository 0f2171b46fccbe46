using Analytics.Runtime.Messaging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Hosting;

/// <summary>
/// Runs the silo lifecycle inside the generic host. On SIGTERM the host stops it: the silo refuses
/// new calls from elsewhere, stream agents flush and checkpoint, activations deactivate (writing
/// their state), and the silo leaves the membership table.
/// </summary>
public sealed partial class SiloHostedService : IHostedService
{
    private readonly IServiceProvider _services;
    private readonly ILogger<SiloHostedService> _logger;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SiloLifecycleSubject? _lifecycle;

    public SiloHostedService(IServiceProvider services, ILogger<SiloHostedService> logger)
    {
        _services = services;
        _logger = logger;
    }

    /// <summary>Completes when the silo has joined the cluster and takes calls.</summary>
    public Task Started => _started.Task;

    public bool IsActive { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _lifecycle = _services.GetRequiredService<SiloLifecycleSubject>();
        foreach (var participant in _services.GetServices<ILifecycleParticipant<ISiloLifecycle>>())
        {
            participant.Participate(_lifecycle);
        }

        var local = _services.GetRequiredService<LocalSiloDetails>();
        try
        {
            await _lifecycle.OnStartAsync(cancellationToken);
        }
        catch (Exception exception)
        {
            _started.TrySetException(exception);
            throw;
        }

        IsActive = true;
        LogStarted(local.SiloAddress, local.ClusterId);
        _started.TrySetResult();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        IsActive = false;
        _services.GetRequiredService<SiloCallRouter>().MarkStopping();
        if (_lifecycle is not null)
        {
            await _lifecycle.OnStopAsync(cancellationToken);
        }

        LogStopped(_services.GetRequiredService<LocalSiloDetails>().SiloAddress);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Silo} started in cluster '{ClusterId}'")]
    private partial void LogStarted(Membership.SiloAddress silo, string clusterId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Silo} stopped")]
    private partial void LogStopped(Membership.SiloAddress silo);
}
