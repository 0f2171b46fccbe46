using System.Collections.Concurrent;
using Analytics.Runtime.Membership;
using Analytics.Runtime.Messaging;

namespace Analytics.Runtime.Hosting;

/// <summary>
/// What the silos of one process share when they use in-process providers: the network, the
/// membership table, and the backing stores of memory storage and memory streams. A test cluster
/// hands one fabric to all its silos; a lone embedded silo gets its own.
/// </summary>
public sealed class InProcessFabric
{
    private readonly ConcurrentDictionary<string, object> _shared = new(StringComparer.Ordinal);

    public InProcessNetwork Network { get; } = new();

    public InMemoryMembershipTable MembershipTable { get; } = new();

    public T GetOrAddShared<T>(string key, Func<T> factory)
        where T : class =>
        (T)_shared.GetOrAdd(key, _ => factory());
}
