using Analytics.Aws.DynamoDB;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;

namespace Analytics.Persistence.DynamoDB;

/// <summary>
/// One DynamoDB grain storage provider. The endpoint, region, table prefix and whether tables are
/// created come from the silo's shared <see cref="DynamoDBOptions"/> (<c>AddDynamoDB(configuration)</c>);
/// these settings choose the provider's table and how a state is laid out in items.
/// </summary>
public sealed class DynamoDBGrainStorageOptions : IStorageProviderSerializerOptions
{
    public const string DefaultTableSuffix = "grain-state";

    /// <summary>The largest item DynamoDB stores is 400 KB, names and keys included; we stay clear of it.</summary>
    internal const int MaxItemPayload = 380 * 1024;

    /// <summary>
    /// The table is <c>{TablePrefix}{TableSuffix}</c>. Providers that share a table must not share
    /// state names: the key is the state name and the grain id, not the provider's name, so that
    /// renaming a provider does not lose its states.
    /// </summary>
    public string TableSuffix { get; set; } = DefaultTableSuffix;

    /// <summary>A serialized state up to this size is kept inside the head item: one item write, no chunks.</summary>
    public int InlineThreshold { get; set; } = 64 * 1024;

    /// <summary>
    /// The same for a state's first write (no ETag: nothing stored yet), up to the largest item.
    /// Chunks pay off when a later write finds most of them unchanged; a first write has none to
    /// find, so its chunks would only be more items for the same kilobytes. Write-once states (the
    /// source groups' claim segments) are all first writes.
    /// </summary>
    public int FirstWriteInlineThreshold { get; set; } = MaxItemPayload;

    /// <summary>Content-defined chunking: the smallest chunk (but the last).</summary>
    public int MinChunkSize { get; set; } = 16 * 1024;

    /// <summary>Content-defined chunking: the target size, a power of two.</summary>
    public int AverageChunkSize { get; set; } = 64 * 1024;

    /// <summary>Content-defined chunking: the largest chunk; it must fit in one item.</summary>
    public int MaxChunkSize { get; set; } = 300 * 1024;

    /// <summary>How many chunk items one BatchGetItem asks for (the service allows 100, and 16 MB per answer).</summary>
    public int ReadBatchSize { get; set; } = 50;

    /// <summary>
    /// The silo lifecycle stage at which the table is created (or checked). Before grains activate,
    /// so that a missing table or permission stops the silo at start rather than failing activations.
    /// </summary>
    public int InitStage { get; set; } = ServiceLifecycleStage.ApplicationServices;

    /// <summary>How states become bytes. Unset, it is the one registered for this provider's name, else the silo's default.</summary>
    public IGrainStorageSerializer GrainStorageSerializer { get; set; } = null!;

    /// <summary>Null when the settings are usable; otherwise what is wrong with them.</summary>
    // Table names are 3 to 255 of [a-zA-Z0-9_.-]: the shared prefix may take 200, the suffix 50.
    public string? Validate() =>
        string.IsNullOrEmpty(TableSuffix) || TableSuffix.Length > 50 || !TableSuffix.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')
            ? $"TableSuffix '{TableSuffix}' must be 1 to 50 of a-z, A-Z, 0-9, '_', '.' and '-'."
        : InlineThreshold < 0 || InlineThreshold > MaxItemPayload
            ? $"InlineThreshold must be between 0 and {MaxItemPayload} bytes (a DynamoDB item holds at most 400 KB)."
        : FirstWriteInlineThreshold < 0 || FirstWriteInlineThreshold > MaxItemPayload
            ? $"FirstWriteInlineThreshold must be between 0 and {MaxItemPayload} bytes (a DynamoDB item holds at most 400 KB)."
        : MinChunkSize < 1024 || AverageChunkSize <= MinChunkSize || MaxChunkSize <= AverageChunkSize
            ? $"Chunk sizes need 1024 <= MinChunkSize < AverageChunkSize < MaxChunkSize (got {MinChunkSize}, {AverageChunkSize}, {MaxChunkSize})."
        : !int.IsPow2(AverageChunkSize) ? $"AverageChunkSize must be a power of two (got {AverageChunkSize})."
        : MaxChunkSize > MaxItemPayload ? $"MaxChunkSize must be at most {MaxItemPayload} bytes (a DynamoDB item holds at most 400 KB)."
        : ReadBatchSize is < 1 or > 100 ? $"ReadBatchSize must be between 1 and 100 (got {ReadBatchSize})."
        : GrainStorageSerializer is null ? "GrainStorageSerializer is not set, and no IGrainStorageSerializer is registered to default to."
        : null;
}

/// <summary>Checks one named provider's options when the silo starts, so a bad setting stops it with a message naming the provider.</summary>
public sealed class DynamoDBGrainStorageOptionsValidator(DynamoDBGrainStorageOptions options, DynamoDBOptions tableOptions, string name) : IConfigurationValidator
{
    public void ValidateConfiguration()
    {
        // The shared options too: this provider is often the first thing to use them.
        if ((options.Validate() ?? tableOptions.Validate()) is { } error)
        {
            throw new OrleansConfigurationException($"DynamoDB grain storage '{name}': {error}");
        }
    }
}
