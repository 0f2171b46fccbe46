namespace Analytics.Runtime;

/// <summary>Marker for every grain interface.</summary>
public interface IGrain
{
}

/// <summary>A grain interface whose grains are identified by a string key.</summary>
public interface IGrainWithStringKey : IGrain
{
}

/// <summary>Creates references to grains. References are cheap values: creating one sends nothing.</summary>
public interface IGrainFactory
{
    TGrainInterface GetGrain<TGrainInterface>(string key)
        where TGrainInterface : IGrainWithStringKey;
}

/// <summary>A client connected to a cluster: a grain factory that can be started and stopped.</summary>
public interface IClusterClient : IGrainFactory
{
    IServiceProvider ServiceProvider { get; }
}
