namespace Analytics.Runtime;

/// <summary>
/// The identity of a grain: its grain type (a short name shared by the interface and the class,
/// "source" for ISourceGrain/SourceGrain) and its string key. Immutable, and it caches its hash
/// because placement hashes every call's target.
/// </summary>
public sealed class GrainId : IEquatable<GrainId>
{
    private readonly int _hashCode;

    public GrainId(string type, string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(type);
        ArgumentNullException.ThrowIfNull(key);
        Type = type;
        Key = key;
        _hashCode = HashCode.Combine(StringComparer.Ordinal.GetHashCode(type), StringComparer.Ordinal.GetHashCode(key));
        StableHash = StableHashing.Hash(type, key);
    }

    public string Type { get; }

    public string Key { get; }

    /// <summary>A hash that is the same in every process, used for placement across silos.</summary>
    public ulong StableHash { get; }

    public bool Equals(GrainId? other) =>
        other is not null && (ReferenceEquals(this, other) ||
            (_hashCode == other._hashCode && string.Equals(Type, other.Type, StringComparison.Ordinal) && string.Equals(Key, other.Key, StringComparison.Ordinal)));

    public override bool Equals(object? obj) => obj is GrainId other && Equals(other);

    public override int GetHashCode() => _hashCode;

    public override string ToString() => $"{Type}/{Key}";

    public static bool operator ==(GrainId? left, GrainId? right) => left is null ? right is null : left.Equals(right);

    public static bool operator !=(GrainId? left, GrainId? right) => !(left == right);
}
