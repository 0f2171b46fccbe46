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

    private GrainCodeRegistry()
    {
    }

    public void AddProxy(Type grainInterface, Func<GrainId, IGrainCallInvoker, GrainReference> factory) => Proxies[grainInterface] = factory;

    public void AddGrainClass(Type grainClass) => GrainClasses[grainClass] = true;

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
