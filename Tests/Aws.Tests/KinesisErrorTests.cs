using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Analytics.Aws.Kinesis;
using static Analytics.Aws.Tests.KinesisTestStreams;

namespace Analytics.Aws.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class KinesisErrorTests(EmulatorHost emulators) : IDisposable
{
    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task An_expired_iterator_is_reported_as_such_and_not_retried()
    {
        var stream = await CreateAsync(_client, "expired", shards: 1);
        var shard = (await _client.ListAllShardsAsync(stream))[0];
        var fresh = await _client.GetShardIteratorAsync(stream, shard.ShardId, ShardIteratorType.TrimHorizon);

        // Iterators expire after 5 minutes unused; rather than wait, age one by 6 minutes.
        var aged = KinesisMockIterators.WithIssueTime(fresh, DateTimeOffset.UtcNow.AddMinutes(-6));
        var error = await Assert.ThrowsAsync<KinesisException>(() => _client.GetRecordsAsync(aged));

        Assert.True(error.IsExpiredIterator, error.Message);
        Assert.Equal("ExpiredIteratorException", error.ErrorCode);
        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.False(error.IsRetryable);
        Assert.False(error.IsThrottling);

        // The fresh one still works: the aged copy proves the mapping, not a broken stream.
        Assert.NotNull((await _client.GetRecordsAsync(fresh)).NextShardIterator);
    }

    [Fact]
    public async Task An_iterator_that_is_not_one_is_an_invalid_argument_not_an_expired_iterator()
    {
        // Well-formed for kinesis-mock's decoding, but not a stream/shard/sequence iterator.
        var wrong = KinesisMockIterators.Encrypt("not/an/iterator");
        var error = await Assert.ThrowsAsync<KinesisException>(() => _client.GetRecordsAsync(wrong));
        Assert.Equal("InvalidArgumentException", error.ErrorCode);
        Assert.False(error.IsExpiredIterator);
        Assert.False(error.IsRetryable);

        // Bytes kinesis-mock cannot even decrypt get an empty 500 from it (AWS answers 400
        // InvalidArgumentException): retried as a server failure, then surfaced.
        using var client = emulators.CreateKinesisClient(o => (o.MaxAttempts, o.BaseRetryDelay, o.MaxRetryDelay) = (2, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(5)));
        var garbage = Convert.ToBase64String(Encoding.UTF8.GetBytes("not an iterator at all, just some bytes"));
        var serverError = await Assert.ThrowsAsync<KinesisException>(() => client.GetRecordsAsync(garbage));
        Assert.Equal(HttpStatusCode.InternalServerError, serverError.StatusCode);
        Assert.Equal("Http500", serverError.ErrorCode);
        Assert.True(serverError.IsRetryable);
        Assert.False(serverError.IsExpiredIterator);
    }

    [Fact]
    public async Task PutRecords_reports_failures_per_entry_and_writes_the_rest()
    {
        var stream = await CreateAsync(_client, "partial", shards: 1);
        // The stream's record limit is 1 MiB of data; kinesis-mock fails just that entry, as Kinesis
        // does for throttled entries, and the client leaves the per-record limit to the stream.
        var oversized = new PutRecordsEntry(new byte[KinesisLimits.MaxRecordBytes + 1], "big");
        var result = await _client.PutRecordsAsync(stream, [Entry("a", "first"), oversized, Entry("b", "third")]);

        Assert.Equal(1, result.FailedRecordCount);
        Assert.Equal(3, result.Records.Count);
        Assert.True(result.Records[0].IsSuccess);
        Assert.False(result.Records[1].IsSuccess);
        Assert.Equal("InvalidArgumentException", result.Records[1].ErrorCode);
        Assert.False(string.IsNullOrEmpty(result.Records[1].ErrorMessage));
        Assert.Null(result.Records[1].SequenceNumber);
        Assert.True(result.Records[2].IsSuccess);

        var read = await ReadShardAsync(_client, stream, result.Records[0].ShardId!);
        Assert.Equal(["first", "third"], read.Records.Select(Text));
    }

    [Fact]
    public async Task Missing_and_existing_streams_map_to_typed_errors()
    {
        var missing = await Assert.ThrowsAsync<KinesisException>(() => _client.DescribeStreamSummaryAsync(EmulatorHost.UniqueName("missing")));
        Assert.True(missing.IsResourceNotFound, missing.Message);

        var stream = await CreateAsync(_client, "exists", shards: 1);
        var exists = await Assert.ThrowsAsync<KinesisException>(() => _client.CreateStreamAsync(stream, 1));
        Assert.True(exists.IsResourceInUse, exists.Message);

        // EnsureStreamAsync takes "already exists" as success.
        Assert.True((await _client.EnsureStreamAsync(stream, 1, ActiveTimeout)).IsActive);
    }
}

/// <summary>
/// kinesis-mock 0.6.2's shard iterators: base64 of 8 header bytes and AES-256-CBC (a key and IV
/// fixed in its source) over "issue-time-ms(14 digits)/stream/shard/sequence/zeros". Reading one
/// lets a test age it past the 5-minute expiry instead of waiting. Tied to the pinned version.
/// </summary>
internal static class KinesisMockIterators
{
    private static readonly byte[] Header = [0, 0, 0, 0, 0, 0, 0, 1];
    private static readonly byte[] Key = Convert.FromHexString("1133a5a833666b49abf28c8ba302930f0b2fb240dccd43cf4dfbc0ca91f17751");
    private static readonly byte[] Iv = Convert.FromHexString("7bf139dbabbea2d9995d6fcae1dff7da");

    public static string WithIssueTime(string iterator, DateTimeOffset issued)
    {
        var bytes = Convert.FromBase64String(iterator);
        using var aes = Aes.Create();
        aes.Key = Key;
        var plain = Encoding.UTF8.GetString(aes.DecryptCbc(bytes.AsSpan(Header.Length), Iv));
        var fields = plain.Split('/');
        Assert.True(fields.Length == 5, $"kinesis-mock's iterator format changed: '{plain}'.");

        fields[0] = issued.ToUnixTimeMilliseconds().ToString("D14", CultureInfo.InvariantCulture);
        return Encrypt(string.Join('/', fields));
    }

    public static string Encrypt(string plain)
    {
        using var aes = Aes.Create();
        aes.Key = Key;
        var encrypted = aes.EncryptCbc(Encoding.UTF8.GetBytes(plain), Iv);
        return Convert.ToBase64String([.. Header, .. encrypted]);
    }
}
