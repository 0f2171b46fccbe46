using System.Globalization;
using System.Text;
using Analytics.Aws.Tests;
using Analytics.Aws.Kinesis;
using Analytics.Streaming.Kinesis;
using Microsoft.Extensions.Logging.Abstractions;

namespace Analytics.EndToEnd.Tests;

/// <summary>
/// A silo process in AWS mode against the emulators: its own Kinesis stream and its own table
/// prefix, so tests never share state. Restarting keeps both, as a replaced ECS task would.
/// </summary>
internal sealed class AwsSilo(EmulatorHost emulators, string stream, string tablePrefix, Uri? kinesisUrl = null, Uri? dynamoDbUrl = null)
{
    public string Stream => stream;

    public string TablePrefix => tablePrefix;

    /// <summary>Settings for fast tests: short leases and checkpoints, so that kills and reshards settle in seconds.</summary>
    public Task<SiloProcess> StartAsync(params string[] extra) => StartAsync(new Dictionary<string, string>(), extra);

    /// <param name="environment">More environment variables (say, an ECS metadata endpoint).</param>
    public Task<SiloProcess> StartAsync(IReadOnlyDictionary<string, string> environment, params string[] extra) =>
        SiloProcess.StartAsync(
            Path.Combine(Path.GetTempPath(), "aws-silo-unused"),
            new Dictionary<string, string>(environment)
            {
                ["AWS_ACCESS_KEY_ID"] = "test",
                ["AWS_SECRET_ACCESS_KEY"] = "test",
                ["Logging__LogLevel__Analytics.Streaming"] = "Information",
            },
            [
                $"--Kinesis:StreamName={stream}",
                $"--Kinesis:ServiceUrl={kinesisUrl ?? emulators.KinesisUrl}",
                $"--DynamoDB:ServiceUrl={dynamoDbUrl ?? emulators.DynamoDbUrl}",
                $"--DynamoDB:TablePrefix={tablePrefix}",
                "--AWS:Region=us-east-1",
                "--Streams:CheckpointInterval=00:00:01",
                "--Analytics:FlushInterval=00:00:01",
                "--Streams:QueueRefreshInterval=00:00:01",
                "--Leases:LeaseDuration=00:00:03",
                "--Leases:RenewInterval=00:00:00.500",
                // Every AWS silo is a networked cluster member: ports of its own, so tests never collide.
                $"--Silo:Port={TestPorts.FreePort()}",
                $"--Gateway:Port={TestPorts.FreePort()}",
                "--Silo:ListenAddress=127.0.0.1",
                .. extra,
            ]);

    public static async Task<AwsSilo> CreateAsync(EmulatorHost emulators, KinesisClient kinesis, int shards, Uri? kinesisUrl = null, Uri? dynamoDbUrl = null)
    {
        var stream = EmulatorHost.UniqueName("e2e");
        await kinesis.CreateStreamAsync(stream, shards);
        await kinesis.WaitForStreamActiveAsync(stream, TimeSpan.FromSeconds(30));
        return new AwsSilo(emulators, stream, EmulatorHost.UniqueName("t")[..14] + "-", kinesisUrl, dynamoDbUrl);
    }
}

/// <summary>Puts events straight into Kinesis as producers do, in the contract's four record shapes, keyed by source.</summary>
internal static class KinesisProducer
{
    /// <summary>
    /// Each source's events, in order, packed into records of up to <paramref name="eventsPerRecord"/>
    /// events. kinesis-mock's PutRecords slows down with every record already in the shard (about
    /// quadratically: 40k records in 4 shards fell to 75 puts/s), so the tests pack events the way
    /// real producers do, and keep every shard to a few thousand records.
    /// </summary>
    public static async Task PutAsync(KinesisClient client, string stream, IReadOnlyList<SiloApi.Sent> events, int eventsPerRecord = 25)
    {
        var writer = new KinesisQueueWriter(client, new KinesisStreamOptions { StreamName = stream }, TimeProvider.System, NullLogger<KinesisQueueWriter>.Instance);
        var records = new List<(string, ReadOnlyMemory<byte>)>();
        var shape = 0;
        foreach (var source in events.GroupBy(e => e.Source))
        {
            foreach (var chunk in source.Chunk(eventsPerRecord))
            {
                var items = chunk.Select(SiloApi.Json).ToList();
                // One event, a JSON array, NDJSON, or a KPL aggregate of single events: all are valid record data.
                var data = (shape++ % 4, items.Count) switch
                {
                    (_, 1) => Encoding.UTF8.GetBytes(items[0]),
                    (0, _) => Encoding.UTF8.GetBytes("[" + string.Join(",", items) + "]"),
                    (1, _) => Encoding.UTF8.GetBytes(string.Join("\n", items)),
                    (2, _) => KplAggregation.Aggregate(items.Select(i => new KplRecord(source.Key, Encoding.UTF8.GetBytes(i))).ToList()),
                    _ => Encoding.UTF8.GetBytes(string.Join("\n", items) + "\n"),
                };
                records.Add((source.Key, data));
            }
        }

        await writer.AppendAsync(records, CancellationToken.None);
    }

    /// <summary>Events with integer values (exact sums in any order) over sources and metrics, timestamps in the last two minutes.</summary>
    public static List<SiloApi.Sent> Generate(int count, int sources, string[] metrics, int seed, string idPrefix)
    {
        var random = new Random(seed);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return Enumerable.Range(0, count)
            .Select(n => new SiloApi.Sent(
                $"dev-{n % sources:D4}",
                metrics[n % metrics.Length],
                random.Next(-1000, 1001),
                now - random.Next(0, 120_000),
                $"{idPrefix}-{n.ToString(CultureInfo.InvariantCulture)}"))
            .ToList();
    }
}
