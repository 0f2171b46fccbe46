namespace Analytics.Runtime.Invocation;

/// <summary>Static facts about one grain interface method, written once by the source generator.</summary>
public sealed class GrainMethodDescriptor(string interfaceName, string methodName, bool alwaysInterleave, bool readOnly)
{
    public string InterfaceName { get; } = interfaceName;

    public string MethodName { get; } = methodName;

    public bool AlwaysInterleave { get; } = alwaysInterleave;

    public bool ReadOnly { get; } = readOnly;

    public override string ToString() => $"{InterfaceName}.{MethodName}";
}
