using Analytics.Runtime.Messaging;

namespace Analytics.Runtime.Membership;

/// <summary>
/// Sends one direct probe (a ping) to a silo. Completes when the silo answered; throws (any
/// exception) or is cancelled when it did not. The failure detector only asks "did it answer in
/// time", so an implementation need not say why a probe failed.
/// </summary>
public interface ISiloProber
{
    Task ProbeAsync(SiloAddress target, CancellationToken cancellationToken);
}

/// <summary>
/// Probes over the in-process network: a silo answers exactly when it is registered there, which
/// is what a killed test silo loses at once (it unregisters as a dropped connection would).
/// </summary>
internal sealed class InProcessSiloProber(InProcessNetwork network) : ISiloProber
{
    public Task ProbeAsync(SiloAddress target, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return network.Silos.Contains(target)
            ? Task.CompletedTask
            : Task.FromException(new SiloUnavailableException($"Silo {target} did not answer a probe: it is not on the in-process network."));
    }
}
