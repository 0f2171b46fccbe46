namespace Analytics.Runtime.Invocation;

/// <summary>Static facts about one grain interface method, written once by the source generator.</summary>
public sealed class GrainMethodDescriptor(string interfaceName, string methodName, bool alwaysInterleave, bool readOnly, string? key = null)
{
    public string InterfaceName { get; } = interfaceName;

    public string MethodName { get; } = methodName;

    public bool AlwaysInterleave { get; } = alwaysInterleave;

    public bool ReadOnly { get; } = readOnly;

    /// <summary>The method's full signature (interface, name, parameter types): what identifies it across processes.</summary>
    public string Key { get; } = key ?? $"{interfaceName}.{methodName}";

    /// <summary>
    /// The key's stable hash, which is what a request carries on the wire. A method whose signature
    /// changes gets a new id, so a silo of another build refuses it by name instead of misreading it.
    /// </summary>
    public ulong WireId { get; } = StableHashing.Hash(key ?? $"{interfaceName}.{methodName}");

    public override string ToString() => $"{InterfaceName}.{MethodName}";
}
