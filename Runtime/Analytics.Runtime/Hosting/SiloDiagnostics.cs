using Analytics.Runtime.Activation;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Streaming;

namespace Analytics.Runtime.Hosting;

/// <summary>A read-only view of this silo for the cluster API and the dashboard.</summary>
public sealed class SiloDiagnostics
{
    private readonly Catalog _catalog;
    private readonly IServiceProvider _services;

    internal SiloDiagnostics(Catalog catalog, IMembershipViewProvider membership, LocalSiloDetails local, SiloHostedService host, IServiceProvider services)
    {
        _catalog = catalog;
        _services = services;
        Membership = membership;
        Local = local;
        Host = host;
    }

    public IMembershipViewProvider Membership { get; }

    public LocalSiloDetails Local { get; }

    public SiloHostedService Host { get; }

    public int ActivationCount => _catalog.ActivationCount;

    /// <summary>Activations per grain type.</summary>
    public IReadOnlyDictionary<string, int> ActivationsByType =>
        _catalog.Activations.GroupBy(a => a.GrainId.Type).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>The network transport's counters, or null for a silo on the in-process network.</summary>
    public Messaging.Network.NetworkStatistics? Network => _services.GetService(typeof(Messaging.Network.NetworkMessageTransport)) is Messaging.Network.NetworkMessageTransport transport ? transport.Statistics : null;

    public IReadOnlyList<(string Provider, QueueId Queue, QueueAgentStatistics Statistics)> Queues => _services.GetPullingAgents().ToList();
}
