using System.Text;
using Analytics.Aws.Kinesis;

namespace Analytics.Kinesis.Tests;

/// <summary>Steps the Kinesis tests share: making a stream, writing to it.</summary>
internal static class KinesisTestStreams
{
    public static readonly TimeSpan ActiveTimeout = TimeSpan.FromSeconds(20);

    public static async Task<string> CreateAsync(KinesisClient client, string prefix, int shards)
    {
        var name = EmulatorHost.UniqueName(prefix);
        await client.CreateStreamAsync(name, shards);
        await client.WaitForStreamActiveAsync(name, ActiveTimeout);
        return name;
    }

    public static PutRecordsEntry Entry(string partitionKey, string data) => new(Encoding.UTF8.GetBytes(data), partitionKey);

    public static string Text(QueueRecord record) => Encoding.UTF8.GetString(record.Data.Span);

    public static (string StreamKey, ReadOnlyMemory<byte> Data) Record(string key, string data) => (key, Encoding.UTF8.GetBytes(data));
}
