using Analytics.Aws.DynamoDB;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Streaming.Kinesis;

/// <summary>
/// Dead letters in DynamoDB, shared by every silo: one partition per store (the hash key is the store
/// name) whose range key starts with the letter's UTC time, so that the newest letters are one
/// backward Query. A letter is always stored: what does not fit DynamoDB's 400 KB item limit is cut,
/// and the row says so (<c>truncated</c>, and the original <c>dataLength</c>).
/// </summary>
/// <remarks>
/// The range key is time, queue and sequence, with no random part: an AddAsync retried after a lost
/// answer writes the same row again instead of a second letter. The count is a COUNT Query rather
/// than a counter row, for the same reason: a retried ADD would count one letter twice.
/// </remarks>
public sealed class DynamoDBDeadLetterStore : IDeadLetterStore
{
    public const string TableSuffix = "dead-letters";

    /// <summary>The most data kept of one letter; the rest of the 400 KB item is left for the other attributes.</summary>
    public const int MaxDataBytes = 350 * 1024;

    /// <summary>The most characters kept of a reason (up to 3 UTF-8 bytes each), queue or sequence.</summary>
    public const int MaxReasonChars = 8 * 1024;

    public const int MaxIdChars = 1024;

    internal const string StoreAttribute = "store";
    internal const string KeyAttribute = "letterKey";
    internal const string QueueAttribute = "queue";
    internal const string SequenceAttribute = "sequence";
    internal const string ReasonAttribute = "reason";
    internal const string TimeAttribute = "time";
    internal const string DataAttribute = "data";
    internal const string DataLengthAttribute = "dataLength";
    internal const string TruncatedAttribute = "truncated";

    // A range key holds at most 1024 bytes.
    private const int MaxKeyBytes = 1024;

    private readonly IAmazonDynamoDB _client;
    private readonly DynamoDBTablePreparation _table;

    /// <param name="storeName">The partition of this store's letters, for example the stream provider's name; stores of one name share their letters.</param>
    public DynamoDBDeadLetterStore(IAmazonDynamoDB client, DynamoDBOptions options, string storeName)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(storeName);
        _client = client;
        StoreName = storeName;
        TableName = options.TableName(TableSuffix);
        _table = new DynamoDBTablePreparation(client, options, TableSpec);
    }

    public string StoreName { get; }

    public string TableName { get; }

    public DynamoDBTableSpec TableSpec => new(TableName, StoreAttribute, KeyAttribute);

    /// <summary>Creates (or checks) the table. Called by the first use of the store; only the first successful call does any work.</summary>
    public Task InitializeAsync(CancellationToken cancellationToken) => _table.EnsureAsync(cancellationToken);

    public async Task AddAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        var item = ToItem(letter);
        await DynamoDBRetry.RunAsync(ct => _client.PutItemAsync(new PutItemRequest { TableName = TableName, Item = item }, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The newest <paramref name="limit"/> letters, newest first.</summary>
    public async Task<IReadOnlyList<DeadLetter>> ListAsync(int limit, CancellationToken cancellationToken)
    {
        var letters = new List<DeadLetter>();
        if (limit <= 0)
        {
            return letters;
        }

        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            // A page stops at 1 MB, that is after as few as three large letters: read on until the limit.
            var request = PartitionQuery();
            request.ScanIndexForward = false;
            request.Limit = limit - letters.Count;
            request.ExclusiveStartKey = start;
            var page = await DynamoDBRetry.RunAsync(ct => _client.QueryAsync(request, ct), cancellationToken).ConfigureAwait(false);
            letters.AddRange((page.Items ?? []).Select(ToLetter));
            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null && letters.Count < limit);

        return letters;
    }

    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken).ConfigureAwait(false);
        long count = 0;
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var request = PartitionQuery();
            request.Select = Select.COUNT;
            request.ExclusiveStartKey = start;
            var page = await DynamoDBRetry.RunAsync(ct => _client.QueryAsync(request, ct), cancellationToken).ConfigureAwait(false);
            count += page.Count ?? 0;
            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        return count;
    }

    private QueryRequest PartitionQuery() => new()
    {
        TableName = TableName,
        KeyConditionExpression = "#s = :s",
        ExpressionAttributeNames = new() { ["#s"] = StoreAttribute },
        ExpressionAttributeValues = new() { [":s"] = new AttributeValue { S = StoreName } },
        ConsistentRead = true,
    };

    internal Dictionary<string, AttributeValue> ToItem(DeadLetter letter)
    {
        var data = letter.Data ?? [];
        var keptData = data.Length > MaxDataBytes ? data.AsSpan(0, MaxDataBytes).ToArray() : data;
        var queue = Cut(letter.Queue, MaxIdChars);
        var sequence = Cut(letter.Sequence, MaxIdChars);
        var reason = Cut(letter.Reason, MaxReasonChars);
        var truncated = keptData.Length < data.Length || queue != letter.Queue || sequence != letter.Sequence || reason != letter.Reason;

        var item = new Dictionary<string, AttributeValue>
        {
            [StoreAttribute] = new() { S = StoreName },
            [KeyAttribute] = new() { S = RangeKey(letter.Time, letter.Queue ?? "", letter.Sequence ?? "") },
            [TimeAttribute] = new() { S = letter.Time.ToString("O", CultureInfo.InvariantCulture) },
            [DataLengthAttribute] = new() { N = data.Length.ToString(CultureInfo.InvariantCulture) },
            [TruncatedAttribute] = new() { BOOL = truncated },
        };

        // Empty values are left out rather than stored: older emulators reject empty strings and binaries.
        AddIfNotEmpty(item, QueueAttribute, queue);
        AddIfNotEmpty(item, SequenceAttribute, sequence);
        AddIfNotEmpty(item, ReasonAttribute, reason);
        if (keptData.Length > 0)
        {
            item[DataAttribute] = new AttributeValue { B = new MemoryStream(keptData, writable: false) };
        }

        return item;
    }

    internal static DeadLetter ToLetter(Dictionary<string, AttributeValue> item) => new(
        item.TryGetValue(QueueAttribute, out var queue) ? queue.S : "",
        item.TryGetValue(SequenceAttribute, out var sequence) ? sequence.S : "",
        item.TryGetValue(ReasonAttribute, out var reason) ? reason.S : "",
        DateTimeOffset.ParseExact(item[TimeAttribute].S, "O", CultureInfo.InvariantCulture, DateTimeStyles.None),
        item.TryGetValue(DataAttribute, out var data) && data.B is { } stream ? stream.ToArray() : []);

    /// <summary>Whether a stored letter lost part of its data or text, and how long its data was.</summary>
    internal static (bool Truncated, long DataLength) ReadTruncation(Dictionary<string, AttributeValue> item) => (
        item.TryGetValue(TruncatedAttribute, out var truncated) && truncated.BOOL == true,
        item.TryGetValue(DataLengthAttribute, out var length) ? long.Parse(length.N, CultureInfo.InvariantCulture) : 0);

    /// <summary>
    /// The UTC time with fixed-width fields (so that text order is time order), then queue and
    /// sequence to tell apart letters of one tick; hashed when they would overflow the key.
    /// </summary>
    internal static string RangeKey(DateTimeOffset time, string queue, string sequence)
    {
        var stamp = time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
        var key = $"{stamp}/{queue}/{sequence}";
        if (Encoding.UTF8.GetByteCount(key) <= MaxKeyBytes)
        {
            return key;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{queue}/{sequence}")));
        return $"{stamp}/#{hash}";
    }

    private static string Cut(string? text, int maxChars) =>
        text is null ? "" : text.Length <= maxChars ? text
            // Never split a surrogate pair: half of one is not valid UTF-8.
            : text[..(char.IsHighSurrogate(text[maxChars - 1]) ? maxChars - 1 : maxChars)];

    private static void AddIfNotEmpty(Dictionary<string, AttributeValue> item, string name, string value)
    {
        if (value.Length > 0)
        {
            item[name] = new AttributeValue { S = value };
        }
    }
}
