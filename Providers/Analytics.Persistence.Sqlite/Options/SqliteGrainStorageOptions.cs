using Orleans;
using Orleans.Runtime;
using Orleans.Storage;

namespace Analytics.Persistence.Sqlite;

/// <summary>One SQLite grain storage provider: a database file of its own, or shared with other providers under other state names.</summary>
public sealed class SqliteGrainStorageOptions : IStorageProviderSerializerOptions
{
    /// <summary>The database file; its folder is created when missing.</summary>
    public string FilePath { get; set; } = Path.Combine("data", "grain-state.db");

    /// <summary>
    /// On (the default), a write completes only once its commit is on disk (synchronous=FULL): it
    /// survives power loss. Group commit shares one fsync among all writes queued meanwhile. Off,
    /// commits still survive the process being killed, but not the machine losing power.
    /// </summary>
    public bool FullSync { get; set; } = true;

    /// <summary>Most writes committed in one transaction.</summary>
    public int MaxWritesPerCommit { get; set; } = 512;

    /// <summary>How long a commit or read waits for another process that holds the file's lock.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The silo lifecycle stage at which the file is opened (and created); before grains activate.</summary>
    public int InitStage { get; set; } = ServiceLifecycleStage.ApplicationServices;

    /// <summary>How states become bytes. Unset, it is the one registered for this provider's name, else the silo's default.</summary>
    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;

    /// <summary>Null when the settings are usable; otherwise what is wrong with them.</summary>
    public string? Validate() =>
        string.IsNullOrWhiteSpace(FilePath) ? "FilePath must be set."
        : FilePath.IndexOfAny(Path.GetInvalidPathChars()) >= 0 ? $"FilePath '{FilePath}' is not a valid path."
        : MaxWritesPerCommit < 1 ? $"MaxWritesPerCommit must be at least 1 (got {MaxWritesPerCommit})."
        : BusyTimeout < TimeSpan.Zero || BusyTimeout > TimeSpan.FromMinutes(10) ? $"BusyTimeout must be between 0 and 10 minutes (got {BusyTimeout})."
        : GrainStorageSerializer is null ? "GrainStorageSerializer is not set, and no IGrainStorageSerializer is registered to default to."
        : null;
}

/// <summary>Checks one named provider's options when the silo starts, so a bad setting stops it with a message naming the provider.</summary>
public sealed class SqliteGrainStorageOptionsValidator(SqliteGrainStorageOptions options, string name) : IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        if (options.Validate() is { } error)
        {
            throw new OrleansConfigurationException($"SQLite grain storage '{name}': {error}");
        }
    }
}
