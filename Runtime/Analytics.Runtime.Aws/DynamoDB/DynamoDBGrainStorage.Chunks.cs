using Analytics.Aws.DynamoDB;
using System.Security.Cryptography;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Aws.DynamoDB;

/// <summary>The chunk items of large states: writing only the new ones, reading them back, and deleting what no head uses.</summary>
public sealed partial class DynamoDBGrainStorage
{
    /// <summary>Puts the chunks the old head does not have, and returns the new head's ordered chunk keys.</summary>
    private async Task<List<string>> WriteChunksAsync(string key, byte[] payload, Head? old, string writeId, CancellationToken cancellationToken)
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
            var hash = Convert.ToHexStringLower(SHA256.HashData(content));
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

        // The head lists every chunk key (~85 bytes each) and must fit in one item itself: fail
        // before writing anything rather than at the commit (about 300 MB with the default sizes).
        if (keys.Sum(k => (long)k.Length + 3) + key.Length + 200 > DynamoDBGrainStorageOptions.MaxItemPayload)
        {
            throw new InvalidOperationException(
                $"A state of {payload.Length} bytes in {keys.Count} chunks is too large for one DynamoDB head item under '{key}'; raise AverageChunkSize.");
        }

        await BatchWriteAsync(puts.Values.ToList(), cancellationToken).ConfigureAwait(false);
        Statistics.AddChunks(written: puts.Count, skipped: reused.Count, bytes);
        return keys;
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
    /// not, and the orphans minted from the replaced head by writers that crashed or lost. Best
    /// effort: the new version is already durable, and anything left over is only storage.
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
            foreach (var chunkKey in await QueryRangeKeysAsync(key, $"{ChunkPrefix}{old.NextWriteId}#", cancellationToken).ConfigureAwait(false))
            {
                if (!kept.Contains(chunkKey) && garbage.Add(chunkKey))
                {
                    orphans++;
                }
            }

            if (garbage.Count > 0)
            {
                var deletes = garbage.Select(k => new WriteRequest(new DeleteRequest(ItemKey(key, k)))).ToList();
                await BatchWriteAsync(deletes, cancellationToken).ConfigureAwait(false);
                Statistics.AddChunkDeletes(garbage.Count);
                if (orphans > 0)
                {
                    LogOrphansDeleted(orphans, key);
                }
            }
        }
        catch (Exception exception)
        {
            LogCleanUpFailed(exception, key);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Count} orphan chunk items of {Key}, left by a writer that crashed or lost a race")]
    private partial void LogOrphansDeleted(int count, string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deleting replaced chunk items of {Key} failed; the state is intact, the items are left as garbage")]
    private partial void LogCleanUpFailed(Exception exception, string key);
}
