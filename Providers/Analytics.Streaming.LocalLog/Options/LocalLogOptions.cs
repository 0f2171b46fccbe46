namespace Analytics.Streaming.LocalLog;

/// <summary>The embedded default stream: a durable log of N partitions on local disk.</summary>
public sealed class LocalLogOptions
{
    /// <summary>Folder of the partition files, the checkpoints and the dead letters.</summary>
    public string DataPath { get; set; } = "data";

    /// <summary>Fixed for the life of the data folder: a stream key's partition depends on it.</summary>
    public int Partitions { get; set; } = 8;

    /// <summary>fsync every commit (survives power loss). Off by default: an acknowledged append survives a process kill either way.</summary>
    public bool FullSync { get; set; }

    /// <summary>Records older than this are trimmed, as Kinesis does after its retention period.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How often records past retention are looked for.</summary>
    public TimeSpan TrimInterval { get; set; } = TimeSpan.FromMinutes(10);

    public string? Validate() =>
        string.IsNullOrWhiteSpace(DataPath) ? "DataPath must not be empty."
        : Partitions is < 1 or > 1024 ? $"The local log needs 1 to 1024 partitions, not {Partitions}."
        : Retention <= TimeSpan.Zero ? "Retention must be positive."
        : TrimInterval <= TimeSpan.Zero ? "TrimInterval must be positive."
        : null;
}
