using Orleans;

namespace Analytics.Clustering.TestSilo;

/// <summary>A grain that says which silo it lives on, so that a test can kill exactly that silo.</summary>
[Alias("Analytics.Clustering.TestSilo.ILocationGrain")]
public interface ILocationGrain : IGrainWithIntegerKey
{
    [Alias("WhereAmI")]
    Task<string> WhereAmI();
}

public sealed class LocationGrain : Grain, ILocationGrain
{
    public Task<string> WhereAmI() => Task.FromResult(RuntimeIdentity);
}
