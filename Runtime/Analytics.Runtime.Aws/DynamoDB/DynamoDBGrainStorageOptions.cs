using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Aws.DynamoDB;

/// <summary>
/// One DynamoDB grain storage provider. The table (<c>{TablePrefix}grain-state</c>), endpoint and
/// table creation come from <see cref="DynamoDBOptions"/>; these settings decide how a state is laid
/// out in items.
/// </summary>
public sealed class DynamoDBGrainStorageOptions
{
    /// <summary>The suffix of the table's name after <see cref="DynamoDBOptions.TablePrefix"/>.</summary>
    public const string TableSuffix = "grain-state";

    /// <summary>The largest item DynamoDB stores is 400 KB, names and keys included; we stay clear of it.</summary>
    internal const int MaxItemPayload = 380 * 1024;

    /// <summary>A serialized state up to this size is kept inside the head item: one item write, no chunks.</summary>
    public int InlineThreshold { get; set; } = 64 * 1024;

    /// <summary>Content-defined chunking: the smallest chunk (but the last).</summary>
    public int MinChunkSize { get; set; } = 16 * 1024;

    /// <summary>Content-defined chunking: the target size, a power of two.</summary>
    public int AverageChunkSize { get; set; } = 64 * 1024;

    /// <summary>Content-defined chunking: the largest chunk; it must fit in one item.</summary>
    public int MaxChunkSize { get; set; } = 300 * 1024;

    /// <summary>How many chunk items one BatchGetItem asks for (the service allows 100, and 16 MB per answer).</summary>
    public int ReadBatchSize { get; set; } = 50;

    public string? Validate() =>
        InlineThreshold < 0 || InlineThreshold > MaxItemPayload
            ? $"InlineThreshold must be between 0 and {MaxItemPayload} bytes (a DynamoDB item holds at most 400 KB)."
        : MinChunkSize < 1024 || AverageChunkSize <= MinChunkSize || MaxChunkSize <= AverageChunkSize
            ? "Chunk sizes need 1024 <= MinChunkSize < AverageChunkSize < MaxChunkSize."
        : !int.IsPow2(AverageChunkSize) ? "AverageChunkSize must be a power of two."
        : MaxChunkSize > MaxItemPayload ? $"MaxChunkSize must be at most {MaxItemPayload} bytes (a DynamoDB item holds at most 400 KB)."
        : ReadBatchSize is < 1 or > 100 ? "ReadBatchSize must be between 1 and 100."
        : null;
}

/// <summary>Validates each named provider's options at start-up.</summary>
public sealed class DynamoDBGrainStorageOptionsValidator : IValidateOptions<DynamoDBGrainStorageOptions>
{
    public ValidateOptionsResult Validate(string? name, DynamoDBGrainStorageOptions options) =>
        options.Validate() is { } error ? ValidateOptionsResult.Fail($"DynamoDB grain storage '{name}': {error}") : ValidateOptionsResult.Success;
}
