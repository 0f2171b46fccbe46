using System.Security.Cryptography;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging;

namespace Analytics.Persistence.DynamoDB;

/// <summary>The chunk items of large states: writing only the new ones, reading them back, and deleting what no head uses.</summary>
public sealed partial class DynamoDBGrainStorage
{
    /// <summary>Hex digits of a chunk's SHA-256 in its key: 128 bits tell one state's chunks apart, and the head lists every key.</summary>
    private const int ChunkHashLength = 32;

    private static readonly TimeSpan AbandonedChunksTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Puts the chunks the old head does not have, under <paramref name="writeId"/>. Returns the new
    /// head's ordered chunk keys, and the keys this call put (which only this writer uses).
    /// </summary>
    private async Task<(List<string> Keys, List<string> Minted)> WriteChunksAsync(string key, byte[] payload, Head? old, string writeId, CancellationToken cancellationToken)
    {
        var existing = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var chunkKey in old?.Chunks ?? [])
        {
            existing.TryAdd(ContentHashOf(chunkKey), chunkKey);
        }

        var keys = new List<string>();
        var reused = new HashSet<string>(StringComparer.Ordinal);
        var puts = new Dictionary<string, WriteRequest>(StringComparer.Ordinal);
        long bytes = 0;
        foreach (var (offset, length) in _chunker.Split(payload))
        {
            var content = payload.AsSpan(offset, length);
            var hash = Convert.ToHexStringLower(SHA256.HashData(content))[..ChunkHashLength];
            if (existing.TryGetValue(hash, out var chunkKey))
            {
                reused.Add(chunkKey);
            }
            else
            {
                chunkKey = $"{ChunkPrefix}{writeId}#{hash}";
                if (!puts.ContainsKey(chunkKey))
                {
                    bytes += length;
                    puts[chunkKey] = new WriteRequest(new PutRequest(new Dictionary<string, AttributeValue>
                    {
                        [HashKey] = new() { S = key },
                        [RangeKey] = new() { S = chunkKey },
                        [DataAttribute] = new() { B = new MemoryStream(content.ToArray()) },
                    }));
                }
            }

            keys.Add(chunkKey);
        }

        // The head lists every chunk key (about 70 bytes each) and must fit in one item itself: fail
        // before writing anything rather than at the commit (about 350 MB with the default sizes).
        if (keys.Sum(k => (long)k.Length + 3) + key.Length + 200 > DynamoDBGrainStorageOptions.MaxItemPayload)
        {
            throw new InvalidOperationException(
                $"A state of {payload.Length} bytes in {keys.Count} chunks is too large for one DynamoDB head item under '{key}'; raise AverageChunkSize.");
        }

        var minted = puts.Keys.ToList();
        try
        {
            await BatchWriteAsync(puts.Values.ToList(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (minted.Count > 0)
        {
            // Some may have been written; none is referenced by a head. The next writer from the
            // same head would find them too, but there may never be one (a first write, a clear).
            await DeleteChunksAsync(key, minted, "failed to write all its chunks").ConfigureAwait(false);
            throw;
        }

        Statistics.AddChunks(written: puts.Count, skipped: reused.Count, bytes);
        return (keys, minted);
    }

    /// <summary>Reads a head's chunks and concatenates them; null when one is missing.</summary>
    private async Task<byte[]?> ReadChunksAsync(string key, Head head, CancellationToken cancellationToken)
    {
        var keys = head.Chunks.Distinct(StringComparer.Ordinal).Select(k => ItemKey(key, k)).ToList();
        var items = await BatchGetAsync(keys, cancellationToken).ConfigureAwait(false);
        var chunks = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            chunks[item[RangeKey].S] = item[DataAttribute].B.ToArray();
        }

        if (head.Chunks.Any(k => !chunks.ContainsKey(k)))
        {
            return null;
        }

        var payload = new byte[head.Chunks.Sum(k => (long)chunks[k].Length)];
        var offset = 0;
        foreach (var chunkKey in head.Chunks)
        {
            chunks[chunkKey].CopyTo(payload, offset);
            offset += chunks[chunkKey].Length;
        }

        return payload;
    }

    /// <summary>
    /// After a commit (or clear): deletes the chunks the replaced head used and the new one does
    /// not, and the orphans minted from the replaced head by writers that crashed. Best effort: the
    /// new version is already durable, and anything left over is only storage.
    /// </summary>
    private async Task CleanUpAsync(string key, Head? old, List<string> keep, CancellationToken cancellationToken)
    {
        if (old is null || (old.Chunks.Count == 0 && keep.Count == 0))
        {
            // Inline to inline, the common case: no chunks, and no Query to pay for.
            return;
        }

        try
        {
            var kept = keep.ToHashSet(StringComparer.Ordinal);
            var garbage = old.Chunks.Where(k => !kept.Contains(k)).ToHashSet(StringComparer.Ordinal);
            var orphans = 0;

            // Only one writer from the old head could commit, and it was us: every other key
            // minted from it belongs to a writer that lost or crashed. No dot after the ETag, so
            // that the runtime's writers' keys (c#{N}#{hash}) are found too; ETags are all 16 characters.
            foreach (var chunkKey in await QueryRangeKeysAsync(key, $"{ChunkPrefix}{old.ETag}", cancellationToken).ConfigureAwait(false))
            {
                if (!kept.Contains(chunkKey) && garbage.Add(chunkKey))
                {
                    orphans++;
                }
            }

            if (garbage.Count > 0)
            {
                await BatchWriteAsync(garbage.Select(k => new WriteRequest(new DeleteRequest(ItemKey(key, k)))).ToList(), cancellationToken).ConfigureAwait(false);
                Statistics.AddChunkDeletes(garbage.Count);
                if (orphans > 0)
                {
                    LogOrphansDeleted(orphans, key);
                }
            }
        }
        catch (Exception exception)
        {
            // Cancellation included: the write has committed, and must not be reported as failed.
            LogCleanUpFailed(exception, key);
        }
    }

    /// <summary>
    /// Deletes chunks that only this writer put, after it failed; best effort, as the clean-up. Not
    /// under the caller's token, which may be what failed the write, but not for ever either: our
    /// retry waits out throttling without end.
    /// </summary>
    private async Task DeleteChunksAsync(string key, List<string> chunkKeys, string why)
    {
        if (chunkKeys.Count == 0)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(AbandonedChunksTimeout, _time);
        try
        {
            await BatchWriteAsync(chunkKeys.Select(k => new WriteRequest(new DeleteRequest(ItemKey(key, k)))).ToList(), timeout.Token).ConfigureAwait(false);
            Statistics.AddChunkDeletes(chunkKeys.Count);
        }
        catch (Exception exception)
        {
            LogAbandonedChunksLeft(exception, chunkKeys.Count, key, why);
        }
    }

    private static string ContentHashOf(string chunkKey) => chunkKey[(chunkKey.LastIndexOf('#') + 1)..];

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} orphan chunk items of {Key}, left by a writer that crashed")]
    private partial void LogOrphansDeleted(int count, string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deleting replaced chunk items of {Key} failed; the state is intact, the items are left as garbage")]
    private partial void LogCleanUpFailed(Exception exception, string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deleting the {Count} chunk items of a write of {Key} that {Why} failed; the state is intact, the items are left as garbage")]
    private partial void LogAbandonedChunksLeft(Exception exception, int count, string key, string why);
}
