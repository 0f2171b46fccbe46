using System.Globalization;
using System.Text;
using System.Text.Json;
using Analytics.Client.Cli;
using Analytics.Aws.Kinesis;
using static Analytics.Aws.Tests.KinesisTestStreams;

namespace Analytics.Aws.Tests;

/// <summary>
/// <c>analytics send --kinesis</c> and <c>replay --kinesis</c>, run in process against kinesis-mock,
/// and the stream read back shard by shard as the service's consumer reads it.
/// </summary>
[Collection(EmulatorCollection.Name)]
public sealed class KinesisProducerTests(EmulatorHost emulators) : IDisposable
{
    private readonly KinesisClient _client = emulators.CreateKinesisClient();

    public void Dispose() => _client.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Send_puts_every_simulated_event_exactly_once_in_order_per_source(bool kpl)
    {
        const int count = 5000;
        var stream = await CreateAsync(_client, kpl ? "send-kpl" : "send", shards: 3);
        string[] args = ["send", "--kinesis", stream, "--count", count.ToString(CultureInfo.InvariantCulture), "--rate", "1000000", "--sources", "53", "--seed", "11"];

        var (code, output, error) = await RunCliAsync(kpl ? [.. args, "--kpl"] : args);

        Assert.True(code == ExitCodes.Ok, $"exit {code}\n{output}\n{error}");
        Assert.Contains($"sent {count} events", output, StringComparison.Ordinal);
        var (records, events) = await ReadAllAsync(stream);
        Assert.Equal(count, events.Count);
        Assert.Equal(count, events.Select(e => e.Id).Distinct().Count());
        Assert.Equal(53, events.Select(e => e.Source).Distinct().Count());
        foreach (var bySource in events.GroupBy(e => e.Source))
        {
            // Ids are {source}-{n}: each source's counter, in the order the shard holds them.
            var counters = bySource.Select(e => long.Parse(e.Id[(e.Id.LastIndexOf('-') + 1)..], CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(0, counters.Count).Select(i => (long)i), counters);
        }

        if (kpl)
        {
            Assert.All(records, r => Assert.True(KplAggregation.HasMagic(r.Data.Span)));
            Assert.True(records.Count < count / 5, $"{records.Count} records for {count} events");
        }
        else
        {
            Assert.Equal(count, records.Count);
        }
    }

    [Fact]
    public async Task Replay_puts_the_good_lines_and_reports_the_bad_ones()
    {
        var stream = await CreateAsync(_client, "replay", shards: 2);
        var lines = Enumerable.Range(0, 300)
            .Select(i => $$"""{"source":"dev-{{i % 7}}","metric":"t","value":{{i}},"id":"dev-{{i % 7}}-{{i / 7}}"}""")
            .ToList();
        lines.Insert(100, """{"source":"dev-1","metric":"t","value":"hot"}""");
        string path = Path.GetTempFileName();
        try
        {
            await File.WriteAllLinesAsync(path, lines);

            var (code, output, _) = await RunCliAsync("replay", path, "--kinesis", stream, "--kpl", "--batch", "40");

            Assert.Equal(ExitCodes.Rejected, code);
            Assert.Contains("line 101: ", output, StringComparison.Ordinal);
            Assert.Contains("300 accepted, 1 rejected", output, StringComparison.Ordinal);
            var (_, events) = await ReadAllAsync(stream);
            Assert.Equal(300, events.Select(e => e.Id).Distinct().Count());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_missing_stream_exits_1_with_a_clear_message()
    {
        var (code, _, error) = await RunCliAsync("send", "--kinesis", EmulatorHost.UniqueName("missing"), "--count", "10");

        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("does not exist", error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    private async Task<(int Code, string Out, string Err)> RunCliAsync(params string[] args)
    {
        var variables = new Dictionary<string, string>
        {
            ["KINESIS_ENDPOINT"] = emulators.KinesisUrl.ToString(),
            ["AWS_REGION"] = EmulatorHost.Region,
            ["AWS_ACCESS_KEY_ID"] = "test",
            ["AWS_SECRET_ACCESS_KEY"] = "test",
        };
        var output = new StringWriter();
        var error = new StringWriter();
        var env = new CliEnvironment
        {
            Output = output,
            Error = error,
            GetEnvironmentVariable = name => variables.GetValueOrDefault(name),
        };
        int code = await AnalyticsCli.RunAsync(args, env);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Every Kinesis record of every shard, and the events in them (de-aggregated, NDJSON split), checking partition key = source.</summary>
    private async Task<(List<KinesisRecord> Records, List<(string Source, string Id)> Events)> ReadAllAsync(string stream)
    {
        var records = new List<KinesisRecord>();
        var events = new List<(string, string)>();
        foreach (var shard in await _client.ListAllShardsAsync(stream))
        {
            var read = await ReadShardAsync(_client, stream, shard.ShardId);
            records.AddRange(read.Records);
            foreach (var record in read.Records)
            {
                var content = KplAggregation.Deaggregate(record.Data, record.PartitionKey);
                Assert.True(content.IsValid, content.Error);
                foreach (var user in content.Records)
                {
                    Assert.Equal(record.PartitionKey, user.PartitionKey);
                    foreach (var line in Encoding.UTF8.GetString(user.Data.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    {
                        using var json = JsonDocument.Parse(line);
                        var source = json.RootElement.GetProperty("source").GetString()!;
                        Assert.Equal(user.PartitionKey, source);
                        events.Add((source, json.RootElement.GetProperty("id").GetString()!));
                    }
                }
            }
        }

        return (records, events);
    }
}
