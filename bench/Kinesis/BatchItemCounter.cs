using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using Analytics.Testing.AwsFaultProxy;

namespace Analytics.Bench.Kinesis;

/// <summary>
/// Looks inside the DynamoDB requests the fault proxy forwards and counts write items: those inside
/// BatchWriteItem calls (the proxy counts calls; DynamoDB bills writes per item), and every written
/// item by table and key shape, to tell which grains and leases the writes are for.
/// </summary>
internal sealed partial class BatchItemCounter
{
    private readonly ConcurrentDictionary<string, long> _shapes = new(StringComparer.Ordinal);
    private long _puts;
    private long _deletes;

    /// <summary>PutRequest and DeleteRequest items sent in BatchWriteItem calls since the last reset.</summary>
    public (long Puts, long Deletes) Items => (Interlocked.Read(ref _puts), Interlocked.Read(ref _deletes));

    /// <summary>Write items since the last reset by operation, table and key shape ("PutItem grains source/dev-# | head"), most first.</summary>
    public IReadOnlyList<(string Shape, long Items)> Shapes =>
        _shapes.Select(s => (s.Key, s.Value)).OrderByDescending(s => s.Value).ThenBy(s => s.Key, StringComparer.Ordinal).ToList();

    public void Reset()
    {
        _shapes.Clear();
        Interlocked.Exchange(ref _puts, 0);
        Interlocked.Exchange(ref _deletes, 0);
    }

    /// <summary>Watches the DynamoDB requests that <paramref name="proxy"/> forwards.</summary>
    public static BatchItemCounter Observe(AwsFaultProxy proxy)
    {
        var counter = new BatchItemCounter();
        proxy.OnForwarding = (operation, body) =>
        {
            if (operation is "BatchWriteItem" or "PutItem" or "UpdateItem" or "DeleteItem")
            {
                counter.Count(operation, body);
            }
        };
        return counter;
    }

    /// <summary>Counts the write items of one call by table and key shape.</summary>
    private void Count(string operation, ReadOnlyMemory<byte> body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            if (operation == "BatchWriteItem")
            {
                foreach (var table in root.GetProperty("RequestItems").EnumerateObject())
                {
                    foreach (var item in table.Value.EnumerateArray())
                    {
                        var delete = item.TryGetProperty("DeleteRequest", out var d);
                        Interlocked.Increment(ref delete ? ref _deletes : ref _puts);
                        Add($"BatchWriteItem {(delete ? "delete" : "put")}", table.Name, delete ? d.GetProperty("Key") : item.GetProperty("PutRequest").GetProperty("Item"));
                    }
                }
            }
            else
            {
                Add(operation, root.GetProperty("TableName").GetString()!, root.TryGetProperty("Item", out var item) ? item : root.GetProperty("Key"));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            Console.Error.WriteLine($"  {operation} body not understood: {e.Message}");
        }
    }

    /// <summary>The key's shape: its PK and SK with runs of digits as '#' ("metric/metric/bench.temp | head", "source/source/dev-# | chunk").</summary>
    private void Add(string operation, string table, JsonElement item)
    {
        var parts = new List<string>();
        foreach (var name in new[] { "PK", "SK" })
        {
            if (item.TryGetProperty(name, out var value) && value.TryGetProperty("S", out var s))
            {
                // A chunk's range key is c#{writeId}#{sha256}: all chunks are one shape.
                var text = s.GetString()!;
                parts.Add(text.StartsWith("c#", StringComparison.Ordinal) ? "chunk" : Digits().Replace(text, "#"));
            }
        }

        if (parts.Count == 0)
        {
            parts.Add(string.Join(",", item.EnumerateObject().Select(p => p.Name)));
        }

        var key = $"{operation} {table[(table.IndexOf('-') + 1)..]} {string.Join(" | ", parts)}";
        _shapes.AddOrUpdate(key, 1, (_, n) => n + 1);
    }

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();
}
