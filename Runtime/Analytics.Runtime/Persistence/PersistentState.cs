using Analytics.Runtime.Activation;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Runtime.Persistence;

/// <summary>Marks a grain constructor parameter of type IPersistentState&lt;T&gt;.</summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class PersistentStateAttribute(string stateName, string? storageName = null) : Attribute
{
    public string StateName { get; } = stateName;

    /// <summary>The storage provider's name; "Default" when omitted.</summary>
    public string StorageName { get; } = storageName ?? PersistentStateFactory.DefaultStorageName;
}

/// <summary>The state of a grain as a storage provider sees it.</summary>
public interface IGrainState<T>
{
    T State { get; set; }

    /// <summary>The version the storage holds; null when there is no record.</summary>
    string? ETag { get; set; }

    bool RecordExists { get; set; }
}

/// <summary>
/// A grain's persistent state, loaded before OnActivateAsync. Every write is conditional on the
/// ETag read or last written, so a stale activation's write fails with InconsistentStateException.
/// </summary>
public interface IPersistentState<T> : IGrainState<T>
{
    Task ReadStateAsync(CancellationToken cancellationToken = default);

    Task WriteStateAsync(CancellationToken cancellationToken = default);

    Task ClearStateAsync(CancellationToken cancellationToken = default);
}

/// <summary>The storage ETag did not match: someone else wrote the state since it was read.</summary>
public sealed class InconsistentStateException(string message, string? storedETag = null, string? currentETag = null) : Exception(message)
{
    public string? StoredETag { get; } = storedETag;

    public string? CurrentETag { get; } = currentETag;

    /// <summary>The error every provider raises when a conditional write finds another ETag.</summary>
    public static InconsistentStateException ForState(string grainId, string stateName, string? expected, string? actual) =>
        new($"State '{stateName}' of grain {grainId} was changed by someone else: expected ETag '{expected ?? "(none)"}', found '{actual ?? "(none)"}'.", expected, actual);
}

internal sealed class PersistentState<T>(string stateName, GrainId grainId, IGrainStorage storage) : IPersistentState<T>, IActivationLifecycleParticipant
    where T : new()
{
    public T State { get; set; } = new();

    public string? ETag { get; set; }

    public bool RecordExists { get; set; }

    public Task ReadStateAsync(CancellationToken cancellationToken = default) => storage.ReadStateAsync(stateName, grainId, this, cancellationToken);

    public Task WriteStateAsync(CancellationToken cancellationToken = default) => storage.WriteStateAsync(stateName, grainId, this, cancellationToken);

    public async Task ClearStateAsync(CancellationToken cancellationToken = default)
    {
        await storage.ClearStateAsync(stateName, grainId, this, cancellationToken);
        State = new T();
    }

    Task IActivationLifecycleParticipant.OnActivateAsync(CancellationToken cancellationToken) => ReadStateAsync(cancellationToken);
}

internal static class PersistentStateFactory
{
    public const string DefaultStorageName = "Default";

    public static IPersistentState<T> Create<T>(IServiceProvider services, ActivationData activation, PersistentStateAttribute attribute)
        where T : new()
    {
        var storage = services.GetKeyedService<IGrainStorage>(attribute.StorageName)
            ?? throw new InvalidOperationException(
                $"Grain {activation.GrainId} needs grain storage '{attribute.StorageName}' for state '{attribute.StateName}', but none is registered. Add it with AddMemoryGrainStorage, AddSqliteGrainStorage or AddDynamoDBGrainStorage.");
        return new PersistentState<T>(attribute.StateName, activation.GrainId, storage);
    }
}
