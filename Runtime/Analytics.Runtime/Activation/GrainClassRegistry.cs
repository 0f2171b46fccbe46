using System.Collections.Concurrent;
using System.Reflection;
using Analytics.Runtime.Invocation;

namespace Analytics.Runtime.Activation;

/// <summary>Maps grain type names to grain classes, from the generated registrations of the loaded assemblies.</summary>
internal sealed class GrainClassRegistry
{
    private readonly ConcurrentDictionary<string, GrainClassInfo?> _byType = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Type> _classes = new(StringComparer.Ordinal);

    public GrainClassRegistry(IEnumerable<GrainAssembly> assemblies)
    {
        foreach (var assembly in assemblies.Select(a => a.Assembly).Concat(DiscoverAssemblies()).Distinct())
        {
            GrainCodeRegistry.EnsureLoaded(assembly);
        }

        foreach (var grainClass in GrainCodeRegistry.KnownGrainClasses)
        {
            var name = GrainTypeNames.ForClass(grainClass);
            if (_classes.TryGetValue(name, out var other) && other != grainClass)
            {
                throw new InvalidOperationException($"Grain classes {other.FullName} and {grainClass.FullName} both have grain type '{name}'. Give one of them [GrainType(\"...\")].");
            }

            _classes[name] = grainClass;
        }
    }

    public IReadOnlyCollection<string> GrainTypes => _classes.Keys;

    public GrainClassInfo? Find(string grainType) =>
        _byType.GetOrAdd(grainType, static (type, classes) => classes.TryGetValue(type, out var c) ? GrainClassInfo.Create(c) : null, _classes);

    public Type? FindClass(string grainType) => _classes.GetValueOrDefault(grainType);

    /// <summary>The entry assembly and everything it references that could hold grains.</summary>
    private static IEnumerable<Assembly> DiscoverAssemblies()
    {
        var runtimeName = typeof(Grain).Assembly.GetName().Name;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<Assembly>(AppDomain.CurrentDomain.GetAssemblies());
        if (Assembly.GetEntryAssembly() is { } entry)
        {
            pending.Push(entry);
        }

        while (pending.TryPop(out var assembly))
        {
            if (assembly.IsDynamic || !seen.Add(assembly.FullName!))
            {
                continue;
            }

            var references = assembly.GetReferencedAssemblies();
            if (assembly == typeof(Grain).Assembly || references.Any(r => r.Name == runtimeName))
            {
                yield return assembly;
                foreach (var reference in references)
                {
                    if (!seen.Contains(reference.FullName))
                    {
                        try
                        {
                            pending.Push(Assembly.Load(reference));
                        }
                        catch (IOException)
                        {
                            // A reference that is not deployed cannot hold grains we need.
                        }
                    }
                }
            }
        }
    }
}

/// <summary>Registers an assembly that holds grain classes, beside those found automatically.</summary>
public sealed record GrainAssembly(Assembly Assembly);
