using System.Collections.Concurrent;
using System.Reflection;

namespace Analytics.Runtime.Invocation;

/// <summary>Put on an assembly by the source generator; names the class that registers its proxies.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class GeneratedGrainCodeAttribute(Type registrationType) : Attribute
{
    public Type RegistrationType { get; } = registrationType;
}

/// <summary>Implemented by the generated registration class of each assembly with grain interfaces.</summary>
public interface IGrainCodeRegistration
{
    void Register(GrainCodeRegistry registry);
}

/// <summary>What the generator knows about the grain interfaces and grain classes of all loaded assemblies.</summary>
public sealed class GrainCodeRegistry
{
    private static readonly ConcurrentDictionary<Assembly, bool> LoadedAssemblies = new();
    private static readonly ConcurrentDictionary<Type, Func<GrainId, IGrainCallInvoker, GrainReference>> Proxies = new();
    private static readonly ConcurrentDictionary<Type, bool> GrainClasses = new();
    private static readonly ConcurrentDictionary<ulong, (string Key, Func<GrainInvokable> Factory)> Invokables = new();

    private GrainCodeRegistry()
    {
    }

    public void AddProxy(Type grainInterface, Func<GrainId, IGrainCallInvoker, GrainReference> factory) => Proxies[grainInterface] = factory;

    public void AddGrainClass(Type grainClass) => GrainClasses[grainClass] = true;

    /// <summary>
    /// Registers how to make an empty request of one method, for requests that arrive over the
    /// network. Several assemblies may register the same inherited method; they are equivalent.
    /// </summary>
    public void AddInvokable(GrainMethodDescriptor method, Func<GrainInvokable> factory)
    {
        var existing = Invokables.GetOrAdd(method.WireId, (method.Key, factory));
        if (existing.Key != method.Key)
        {
            throw new InvalidOperationException($"The grain methods {existing.Key} and {method.Key} have the same wire id; rename one of them.");
        }
    }

    /// <summary>
    /// An empty request for the method with this wire id, or null if no loaded assembly has it
    /// (the caller runs another build). Assemblies loaded since the last miss are searched first.
    /// </summary>
    internal static GrainInvokable? CreateInvokable(ulong wireId)
    {
        if (Invokables.TryGetValue(wireId, out var entry))
        {
            return entry.Factory();
        }

        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (!assembly.IsDynamic)
            {
                EnsureLoaded(assembly);
            }
        }

        return Invokables.TryGetValue(wireId, out entry) ? entry.Factory() : null;
    }

    /// <summary>Grain classes found in the assemblies loaded so far.</summary>
    public static IReadOnlyCollection<Type> KnownGrainClasses => (IReadOnlyCollection<Type>)GrainClasses.Keys;

    public static void EnsureLoaded(Assembly assembly)
    {
        if (!LoadedAssemblies.TryAdd(assembly, true))
        {
            return;
        }

        foreach (var attribute in assembly.GetCustomAttributes<GeneratedGrainCodeAttribute>())
        {
            var registration = (IGrainCodeRegistration)Activator.CreateInstance(attribute.RegistrationType)!;
            registration.Register(new GrainCodeRegistry());
        }
    }

    internal static Func<GrainId, IGrainCallInvoker, GrainReference> GetProxyFactory(Type grainInterface)
    {
        EnsureLoaded(grainInterface.Assembly);
        return Proxies.TryGetValue(grainInterface, out var factory)
            ? factory
            : throw new InvalidOperationException(
                $"No generated proxy exists for {grainInterface.FullName}. Grain interfaces must be public, extend IGrainWithStringKey, and live in a project that imports Runtime/Runtime.props.");
    }
}
