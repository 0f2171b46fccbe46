namespace Analytics.Runtime.Membership;

/// <summary>
/// A silo's identity: its endpoint plus a generation (its start time), so a silo restarted on the
/// same endpoint is a new silo and the dead one never comes back under the same identity.
/// </summary>
public sealed record SiloAddress(string Host, int Port, long Generation)
{
    /// <summary>Computed from the other fields at construction, so record equality is unaffected.</summary>
    public ulong StableHash { get; } = StableHashing.Hash($"{Host}:{Port}@{Generation}");

    public override string ToString() => $"{Host}:{Port}@{Generation}";

    public static SiloAddress Parse(string text)
    {
        var at = text.LastIndexOf('@');
        var colon = text.LastIndexOf(':', at < 0 ? text.Length - 1 : at);
        if (at < 0 || colon < 0 || !int.TryParse(text.AsSpan(colon + 1, at - colon - 1), out var port) || !long.TryParse(text.AsSpan(at + 1), out var generation))
        {
            throw new FormatException($"'{text}' is not a silo address of the form host:port@generation.");
        }

        return new SiloAddress(text[..colon], port, generation);
    }
}

public enum SiloStatus
{
    None = 0,
    Created = 1,
    Joining = 2,
    Active = 3,
    ShuttingDown = 4,
    Stopping = 5,
    Dead = 6,
}
