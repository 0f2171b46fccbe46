using System.Globalization;
using System.Text.Json;
using Analytics.Client.Cli;
using Analytics.Aws.Kinesis;

namespace Analytics.Client.Tests;

/// <summary><c>send --kinesis</c> and <c>replay --kinesis</c> in process, against a fake Kinesis or none at all.</summary>
public sealed class KinesisCliTests
{
    private static CliHost.CliSetup With(FakeKinesis fake, TimeSpan? putRetryTimeout = null) => new()
    {
        Kinesis = (options, _) => fake.CreateClient(options),
        KinesisPutRetryTimeout = putRetryTimeout ?? TimeSpan.FromSeconds(60),
    };

    /// <summary>Every event in the records, de-aggregated and split into NDJSON lines, checking partition key = source.</summary>
    private static List<(string Source, string Id)> Events(IEnumerable<FakePut> records)
    {
        var events = new List<(string, string)>();
        foreach (FakePut record in records)
        {
            KplDeaggregation content = KplAggregation.Deaggregate(record.Data, record.PartitionKey);
            Assert.True(content.IsValid, content.Error);
            foreach (KplRecord user in content.Records)
            {
                Assert.Equal(record.PartitionKey, user.PartitionKey); // aggregated only with its own key
                foreach (string line in System.Text.Encoding.UTF8.GetString(user.Data.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    using var json = JsonDocument.Parse(line);
                    string source = json.RootElement.GetProperty("source").GetString()!;
                    Assert.Equal(user.PartitionKey, source); // partition key = source
                    events.Add((source, json.RootElement.GetProperty("id").GetString()!));
                }
            }
        }

        return events;
    }

    private static void AssertEveryEventOnceInOrder(List<(string Source, string Id)> events, int count)
    {
        Assert.Equal(count, events.Count);
        Assert.Equal(count, events.Select(e => e.Id).Distinct().Count());
        foreach (var bySource in events.GroupBy(e => e.Source))
        {
            long[] counters = [.. bySource.Select(e => long.Parse(e.Id[(e.Id.LastIndexOf('-') + 1)..], CultureInfo.InvariantCulture))];
            Assert.Equal(Enumerable.Range(0, counters.Length).Select(i => (long)i), counters);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Send_puts_every_event_once_in_order_per_source(bool kpl)
    {
        // As a throttled shard does: every entry of its keys in a call fails, not just some.
        var fake = new FakeKinesis
        {
            FailEntry = (call, _, put) => call % 4 == 1 && put.PartitionKey.EndsWith('3') ? "ProvisionedThroughputExceededException" : null,
        };
        string[] args = ["send", "--kinesis", "events", "--kinesis-endpoint", "http://kinesis.test:4567", "--count", "3000", "--rate", "1000000", "--sources", "37", "--seed", "3", "--batch", "100"];

        CliResult result = await CliHost.RunAsync(With(fake), kpl ? [.. args, "--kpl"] : args);

        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        AssertEveryEventOnceInOrder(Events(fake.Accepted), 3000);
        Assert.Contains("sent 3000 events", result.Out, StringComparison.Ordinal);
        Assert.Contains("Kinesis stream events at http://kinesis.test:4567", result.Out, StringComparison.Ordinal);
        Assert.Contains("throttled", result.Out, StringComparison.Ordinal);
        Assert.All(fake.Calls, c => Assert.InRange(c.Count, 1, 100));
        if (kpl)
        {
            Assert.True(fake.Accepted.Count < 3000 / 4, $"{fake.Accepted.Count} records");
        }
        else
        {
            Assert.Contains("3000 records", result.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_a_clear_error_without_a_stack_trace()
    {
        var setup = new CliHost.CliSetup { Environment = { ["AWS_ACCESS_KEY_ID"] = "test", ["AWS_SECRET_ACCESS_KEY"] = "test" } };

        CliResult result = await CliHost.RunAsync(
            setup, "send", "--kinesis", "events", "--kinesis-endpoint", "http://127.0.0.1:1", "--count", "10", "--rate", "1000");

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        Assert.Contains("cannot reach Kinesis at http://127.0.0.1:1", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Err + result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_stream_is_a_clear_error()
    {
        var fake = new FakeKinesis { StreamMissing = true };

        CliResult result = await CliHost.RunAsync(With(fake), "replay", "-", "--kinesis", "nope", "--kinesis-endpoint", "http://kinesis.test:4567");

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        Assert.Contains("Kinesis stream 'nope' does not exist", result.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_that_stays_throttled_fails_after_the_retry_timeout()
    {
        var fake = new FakeKinesis { FailEntry = (_, _, _) => "ProvisionedThroughputExceededException" };

        CliResult result = await CliHost.RunAsync(
            With(fake, TimeSpan.FromMilliseconds(200)), "send", "--kinesis", "events", "--count", "10", "--rate", "1000000");

        Assert.Equal(ExitCodes.Failed, result.ExitCode);
        Assert.Contains("were still not written", result.Err, StringComparison.Ordinal);
        Assert.Contains("sent 0 events", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_checks_lines_as_the_server_does_and_puts_the_good_ones()
    {
        var fake = new FakeKinesis();
        string path = Path.GetTempFileName();
        try
        {
            await File.WriteAllLinesAsync(path,
            [
                """{"source":"dev-1","metric":"t","value":1,"id":"dev-1-0"}""",
                """{"source":"dev-1","metric":"t","value":"warm"}""",
                "not json",
                """{"source":"dev-2","values":{"a":1,"b":2},"id":"dev-2-0"}""",
                """{"source":"dev-1","metric":"t","value":2,"id":"dev-1-1"}""",
            ]);

            CliResult result = await CliHost.RunAsync(With(fake), "replay", path, "--kinesis", "events", "--kpl");

            Assert.Equal(ExitCodes.Rejected, result.ExitCode);
            Assert.Contains("line 2: ", result.Out, StringComparison.Ordinal);
            Assert.Contains("line 3: ", result.Out, StringComparison.Ordinal);
            Assert.Contains("3 accepted, 2 rejected", result.Out, StringComparison.Ordinal);
            List<(string Source, string Id)> events = Events(fake.Accepted);
            Assert.Equal(["dev-1-0", "dev-1-1", "dev-2-0#a", "dev-2-0#b"], events.Select(e => e.Id).Order(StringComparer.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("send", "--kpl")]
    [InlineData("send", "--region", "eu-west-1")]
    [InlineData("replay", "-", "--concurrency", "8")]
    [InlineData("send", "--kinesis", "events", "--batch", "501")]
    [InlineData("send", "--kinesis", "bad name")]
    public async Task Kinesis_options_are_checked_before_anything_is_sent(params string[] args)
    {
        CliResult result = await CliHost.RunAsync(args);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("error: ", result.Err, StringComparison.Ordinal);
    }
}
