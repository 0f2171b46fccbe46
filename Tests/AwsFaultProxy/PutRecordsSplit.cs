using System.Text.Json;
using System.Text.Json.Nodes;

namespace Analytics.Testing.AwsFaultProxy;

/// <summary>
/// A Kinesis PutRecords with some entries failed on purpose. Real Kinesis answers such a call with
/// HTTP 200 and a per-entry error for the throttled entries, and writes only the others. To be as
/// honest as that, only the entries kept are sent to the emulator, so the stream holds exactly the
/// entries the answer reports as written; the answer is then put back together in request order.
/// </summary>
internal sealed class PutRecordsSplit
{
    private readonly bool[] _failed;

    private PutRecordsSplit(bool[] failed, byte[]? forwardBody)
    {
        _failed = failed;
        ForwardBody = forwardBody;
    }

    /// <summary>The request to send on, with only the kept entries; null when every entry failed.</summary>
    public byte[]? ForwardBody { get; }

    public int FailedCount => _failed.Count(f => f);

    /// <summary>
    /// Chooses each entry to fail with probability <paramref name="fraction"/>. Null when the body
    /// is not a PutRecords JSON request, or when no entry was chosen: then the request goes on unchanged.
    /// </summary>
    public static PutRecordsSplit? TryCreate(byte[] body, double fraction)
    {
        JsonObject? request;
        try
        {
            request = JsonNode.Parse(body) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }

        if (request?["Records"] is not JsonArray records || records.Count == 0)
        {
            return null;
        }

        // Each entry on its own, like real per-shard throttling: a retry of the failed ones then
        // converges, where a fixed share of every batch would never let a single record through.
        var failed = new bool[records.Count];
        for (var i = 0; i < failed.Length; i++)
        {
            failed[i] = Random.Shared.NextDouble() < fraction;
        }

        if (!failed.Contains(true))
        {
            return null;
        }

        if (!failed.Contains(false))
        {
            return new PutRecordsSplit(failed, null);
        }

        // Keeps every other field of the request (StreamName or StreamARN) as it was.
        var kept = new JsonArray();
        for (var i = 0; i < failed.Length; i++)
        {
            if (!failed[i])
            {
                kept.Add(records[i]!.DeepClone());
            }
        }

        request["Records"] = kept;
        return new PutRecordsSplit(failed, JsonSerializer.SerializeToUtf8Bytes(request));
    }

    /// <summary>
    /// The answer to the whole request: the forwarded call's entry results, in order, for the kept
    /// entries, and a throttling error for each failed one. <paramref name="forwardedAnswer"/> is
    /// the emulator's 200 answer, or null when nothing was forwarded.
    /// </summary>
    public byte[] BuildAnswer(byte[]? forwardedAnswer)
    {
        JsonObject answer;
        JsonArray forwardedEntries;
        if (forwardedAnswer is null)
        {
            answer = [];
            forwardedEntries = [];
        }
        else
        {
            answer = JsonNode.Parse(forwardedAnswer) as JsonObject
                ?? throw new InvalidOperationException("The emulator's PutRecords answer is not a JSON object.");
            forwardedEntries = answer["Records"] as JsonArray
                ?? throw new InvalidOperationException("The emulator's PutRecords answer has no Records.");
        }

        var kept = _failed.Count(f => !f);
        if (forwardedEntries.Count != kept)
        {
            throw new InvalidOperationException($"The emulator answered {forwardedEntries.Count} PutRecords results for {kept} records.");
        }

        var entries = new JsonArray();
        var next = 0;
        var failedCount = 0;
        foreach (var failed in _failed)
        {
            if (failed)
            {
                entries.Add(new JsonObject
                {
                    ["ErrorCode"] = "ProvisionedThroughputExceededException",
                    ["ErrorMessage"] = "Rate exceeded for shard (injected by AwsFaultProxy).",
                });
                failedCount++;
                continue;
            }

            var entry = forwardedEntries[next++]!.DeepClone();
            // The emulator may have failed entries of its own; they stay failed and are counted.
            if (entry is JsonObject { } result && result["ErrorCode"] is not null)
            {
                failedCount++;
            }

            entries.Add(entry);
        }

        answer["FailedRecordCount"] = failedCount;
        answer["Records"] = entries;
        return JsonSerializer.SerializeToUtf8Bytes(answer);
    }
}
