namespace Analytics.Runtime.Invocation;

/// <summary>Creates proxies for one invoker. The per-interface lookup is a static generic field, so it costs nothing after the first call.</summary>
public sealed class GrainReferenceFactory(IGrainCallInvoker invoker) : IGrainFactory
{
    public TGrainInterface GetGrain<TGrainInterface>(string key)
        where TGrainInterface : IGrainWithStringKey
    {
        ArgumentNullException.ThrowIfNull(key);
        return (TGrainInterface)(object)ProxyCache<TGrainInterface>.Factory(new GrainId(ProxyCache<TGrainInterface>.GrainType, key), invoker);
    }

    public TGrainInterface Create<TGrainInterface>(GrainId grainId)
        where TGrainInterface : IGrain =>
        (TGrainInterface)(object)ProxyCache<TGrainInterface>.Factory(grainId, invoker);

    /// <summary>A reference typed by a runtime Type (used for stream delivery and system calls).</summary>
    public GrainReference Create(Type grainInterface, GrainId grainId) => GrainCodeRegistry.GetProxyFactory(grainInterface)(grainId, invoker);

    private static class ProxyCache<T>
    {
        public static readonly Func<GrainId, IGrainCallInvoker, GrainReference> Factory = GrainCodeRegistry.GetProxyFactory(typeof(T));
        public static readonly string GrainType = GrainTypeNames.ForInterface(typeof(T));
    }
}
