using System.Reflection;

namespace Analytics.Runtime.Invocation;

/// <summary>
/// The naming convention that lets a client, which knows only interfaces, name the same grain type
/// as the silo, which knows classes: ISourceGrain and SourceGrain both become "source".
/// [GrainType("name")] overrides it on either side.
/// </summary>
public static class GrainTypeNames
{
    public static string ForInterface(Type grainInterface)
    {
        if (grainInterface.GetCustomAttribute<GrainTypeAttribute>() is { } explicitName)
        {
            return explicitName.Name;
        }

        var name = StripGenericArity(grainInterface.Name);
        if (name.Length > 1 && name[0] == 'I' && char.IsUpper(name[1]))
        {
            name = name[1..];
        }

        return Normalise(name);
    }

    public static string ForClass(Type grainClass) =>
        grainClass.GetCustomAttribute<GrainTypeAttribute>(inherit: false) is { } explicitName
            ? explicitName.Name
            : Normalise(StripGenericArity(grainClass.Name));

    private static string Normalise(string name)
    {
        if (name.EndsWith("Grain", StringComparison.Ordinal) && name.Length > "Grain".Length)
        {
            name = name[..^"Grain".Length];
        }

        return name.ToLowerInvariant();
    }

    private static string StripGenericArity(string name)
    {
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return tick < 0 ? name : name[..tick];
    }
}
