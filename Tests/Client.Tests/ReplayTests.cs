using System.Text;
using Analytics.Client.Cli;
using Analytics.Client.Replay;

namespace Analytics.Client.Tests;

public sealed class ReplayReaderTests
{
    [Fact]
    public async Task Ndjson_lines_keep_their_line_numbers_and_skip_blanks()
    {
        string text = "\uFEFF{\"a\":1}\r\n\n   \n{\"b\":2}\n\t\n{\"c\":3}";
        List<ReplayItem> items = await ReadAllAsync(text, ReplayFormat.Auto, batch: 2);

        Assert.Equal([1L, 4L, 6L], items.Select(i => i.Line));
        Assert.Equal(["{\"a\":1}\r", "{\"b\":2}", "{\"c\":3}"], items.Select(i => Encoding.UTF8.GetString(i.Json.Span)));
    }

    [Fact]
    public async Task Long_lines_and_one_byte_reads_work()
    {
        string big = "{\"source\":\"dev-1\",\"pad\":\"" + new string('x', 200_000) + "\"}";
        string text = $"{{\"n\":1}}\n{big}\n{{\"n\":3}}\n";
        var reader = new ReplayReader(new TrickleStream(Encoding.UTF8.GetBytes(text), chunk: 7), ReplayFormat.Ndjson);

        List<ReplayItem> items = await DrainAsync(reader, batch: 10, []);

        Assert.Equal([1L, 2L, 3L], items.Select(i => i.Line));
        Assert.Equal(big.Length, items[1].Json.Length);
        Assert.Equal(3, reader.LinesRead);
        Assert.Equal(text.Length, reader.BytesRead);
    }

    [Fact]
    public async Task Json_array_elements_get_the_line_they_start_on()
    {
        string text = """
            [
              {"source": "dev-1", "metric": "t", "value": 1},
              {
                "source": "dev-2",
                "note": "commas, ] and { in a string \" here",
                "value": 2
              }, 7 ,
              [1, 2],
              {"broken": oops},
              {"source": "dev-3"}
            ]
            """;
        var rejections = new List<ReplayRejection>();
        var reader = new ReplayReader(new TrickleStream(Encoding.UTF8.GetBytes(text), chunk: 3), ReplayFormat.Auto);

        List<ReplayItem> items = await DrainAsync(reader, batch: 2, rejections);

        Assert.Equal(ReplayFormat.JsonArray, reader.Format);
        Assert.Equal([2L, 3L, 7L, 8L, 10L], items.Select(i => i.Line));
        Assert.All(items, i => Assert.DoesNotContain((byte)'\n', i.Json.ToArray()));
        Assert.Contains("commas, ] and { in a string \\\" here", Encoding.UTF8.GetString(items[1].Json.Span));
        Assert.Equal("7", Encoding.UTF8.GetString(items[2].Json.Span));
        ReplayRejection rejection = Assert.Single(rejections);
        Assert.Equal(9, rejection.Line);
        Assert.StartsWith("not valid JSON", rejection.Error);
        Assert.Equal(11, reader.LinesRead);
    }

    [Theory]
    [InlineData("[{\"a\":1}", "the file ends before the closing ]")]
    [InlineData("[{\"a\":1},]", "expected an array element, found ']'")]
    [InlineData("[{\"a\":1}]\n[{\"b\":2}]", "line 2: found '[' after the closing ]")]
    [InlineData("[{\"a\":\"unterminated}]", "the file ends inside an array element")]
    public async Task Broken_json_array_structure_is_a_format_error(string text, string message)
    {
        var ex = await Assert.ThrowsAsync<ReplayFormatException>(() => ReadAllAsync(text, ReplayFormat.Auto, batch: 10));

        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public async Task Batches_stay_under_the_byte_limit()
    {
        string text = string.Join('\n', Enumerable.Range(0, 10).Select(i => $"{{\"n\":{i},\"pad\":\"{new string('p', 80)}\"}}"));
        var reader = new ReplayReader(new MemoryStream(Encoding.UTF8.GetBytes(text)), ReplayFormat.Ndjson);
        var sizes = new List<int>();
        while (await reader.ReadBatchAsync(100, 300, []) is { Count: > 0 } batch)
        {
            sizes.Add(batch.Count);
            Assert.True(batch.Sum(i => i.Json.Length + 1) <= 300 || batch.Count == 1);
        }

        Assert.Equal(10, sizes.Sum());
        Assert.All(sizes, s => Assert.True(s <= 3));
    }

    private static Task<List<ReplayItem>> ReadAllAsync(string text, ReplayFormat format, int batch) =>
        DrainAsync(new ReplayReader(new MemoryStream(Encoding.UTF8.GetBytes(text)), format), batch, []);

    private static async Task<List<ReplayItem>> DrainAsync(ReplayReader reader, int batch, List<ReplayRejection> rejections)
    {
        var all = new List<ReplayItem>();
        using (reader)
        {
            while (await reader.ReadBatchAsync(batch, long.MaxValue, rejections) is { Count: > 0 } items)
            {
                Assert.True(items.Count <= batch);
                all.AddRange(items);
            }
        }

        return all;
    }

    /// <summary>A stream that hands out at most a few bytes per read, to cross every buffer boundary.</summary>
    private sealed class TrickleStream(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }
}

public sealed class CliReplayTests : IAsyncLifetime
{
    private FakeSilo _silo = null!;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "analytics-replay-" + Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        _silo = await FakeSilo.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _silo.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private string WriteFile(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    private Task<CliResult> Replay(params string[] args) => CliHost.RunAsync(["replay", .. args, "--url", _silo.Url.ToString()]);

    [Fact]
    public async Task Rejected_ndjson_lines_are_reported_by_file_line_across_batches()
    {
        string path = WriteFile("events.ndjson", """
            {"source":"dev-1","metric":"temperature","value":20}

            {"source":"dev-1","metric":"temperature"}
            {"source":"dev-2","metric":"humidity","value":40}
               
            not json at all
            {"source":"dev-3","metric":"pressure","value":1013}
            {"source":"dev-4","metric":"bad name","value":1}
            {"source":"dev-5","metric":"temperature","value":21}
            """);

        CliResult result = await Replay(path, "--batch", "3");

        Assert.Equal(ExitCodes.Rejected, result.ExitCode);
        string[] lines = result.OutLines;
        Assert.StartsWith("line 3: value is required with metric", lines[0]);
        Assert.StartsWith("line 6: the line is not valid JSON", lines[1]);
        Assert.StartsWith("line 8: metric 'bad name' contains", lines[2]);
        Assert.StartsWith($"replayed 7 events from {path} (9 lines, ", lines[3]);
        Assert.EndsWith(": 4 accepted, 3 rejected, 3 batches", lines[3]);
        Assert.Equal(4, lines.Length);
        Assert.Equal([3, 3, 1], _silo.Posts.Select(p => p.Elements));
        Assert.All(_silo.Posts, p => Assert.StartsWith("application/x-ndjson", p.ContentType));
        Assert.Equal(["dev-1", "dev-2", "dev-3", "dev-5"], _silo.Events.Select(e => e.Source));
    }

    [Fact]
    public async Task Rejected_json_array_elements_are_reported_by_the_line_they_start_on()
    {
        string path = WriteFile("events.json", """
            [
              {"source": "dev-1", "metric": "temperature", "value": 20},
              {
                "source": "dev-2",
                "metric": "temperature"
              },
              {"source": "dev-3", "metric": "humidity", "value": 41.5, "note": "a, b ] c"},
              {"source": "dev-4", "metric": "humidity", "value": oops},
              {"source": "dev-5", "metric": "pressure", "value": 1000}
            ]
            """);

        CliResult result = await Replay(path, "--batch", "2");

        Assert.Equal(ExitCodes.Rejected, result.ExitCode);
        string[] lines = result.OutLines;
        Assert.StartsWith("line 3: value is required with metric", lines[0]);
        Assert.StartsWith("line 8: not valid JSON", lines[1]);
        Assert.Contains("(10 lines, ", lines[2]);
        Assert.EndsWith(": 3 accepted, 2 rejected, 2 batches", lines[2]);
        Assert.Equal(["dev-1", "dev-3", "dev-5"], _silo.Events.Select(e => e.Source));
        Assert.Equal(41.5, _silo.Events.Single(e => e.Source == "dev-3").Value);
    }

    [Fact]
    public async Task Batches_refused_as_too_large_are_split_until_they_fit()
    {
        _silo.MaxBodyBytes = 300;
        var text = new StringBuilder();
        for (int i = 0; i < 10; i++)
        {
            text.Append($$"""{"source":"dev-{{i}}","metric":"temperature","value":{{i}},"id":"dev-{{i}}-1"}""").Append('\n');
        }

        text.Append($$"""{"source":"dev-big","metric":"temperature","value":1,"pad":"{{new string('x', 400)}}"}""").Append('\n');
        string path = WriteFile("split.ndjson", text.ToString());

        CliResult result = await Replay(path, "--batch", "100");

        Assert.Equal(ExitCodes.Rejected, result.ExitCode);
        Assert.Equal(10, _silo.Events.Count);
        Assert.Equal(10, _silo.Events.Select(e => e.Id).Distinct().Count());
        Assert.StartsWith("line 11: The body is ", result.OutLines[0]);
        Assert.Contains(": 10 accepted, 1 rejected", result.OutLines[1]);
        Assert.True(_silo.Posts.Count() > 3);
    }

    [Fact]
    public async Task Unlisted_rejections_are_reported_as_a_range()
    {
        // The server lists at most 100 errors per request: 150 bad lines in one batch leave 50 unlisted.
        string path = WriteFile("many.ndjson", string.Concat(Enumerable.Repeat("{\"source\":\"dev-1\"}\n", 150)));

        CliResult result = await Replay(path, "--batch", "500", "--max-errors", "2");

        Assert.Equal(ExitCodes.Rejected, result.ExitCode);
        Assert.Equal(
            [
                "line 1: metric and value are required (or values, an object of metric names to numbers)",
                "line 2: metric and value are required (or values, an object of metric names to numbers)",
                "… and 98 more rejected lines (--max-errors 0 lists all)",
                "lines 1-150: 50 more rejected events the server did not itemise (it lists at most 100 errors per request; a smaller --batch lists more)",
            ],
            result.OutLines[..4]);
        Assert.EndsWith(": 0 accepted, 150 rejected, 1 batch", result.OutLines[4]);
    }

    [Fact]
    public async Task A_clean_file_exits_0()
    {
        string path = WriteFile("ok.ndjson", string.Concat(Enumerable.Range(0, 1200).Select(i => $"{{\"source\":\"dev-{i % 10}\",\"metric\":\"temperature\",\"value\":{i}}}\n")));

        CliResult result = await Replay(path);

        Assert.True(result.ExitCode == ExitCodes.Ok, result.ToString());
        Assert.Equal([500, 500, 200], _silo.Posts.Select(p => p.Elements));
        Assert.Contains("replayed 1200 events", result.Out);
    }

    [Fact]
    public async Task A_missing_file_exits_2()
    {
        CliResult result = await Replay(Path.Combine(_directory, "nope.ndjson"));

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("nope.ndjson: no such file", result.Err);
        Assert.Empty(_silo.Requests);
    }

    [Fact]
    public async Task A_broken_array_exits_2_after_sending_what_came_before()
    {
        string path = WriteFile("broken.json", "[\n{\"source\":\"dev-1\",\"metric\":\"t\",\"value\":1},\n{\"source\":\"dev-2\",\"metric\":\"t\",\"value\":2}\n");

        CliResult result = await Replay(path, "--batch", "1");

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("the file ends before the closing ] of the array; stopped there", result.Err);
        Assert.Single(_silo.Events);
    }

    [Fact]
    public void Progress_line_shows_percent_of_the_file()
    {
        string line = ReplayCommand.Render(new ReplayProgress(1000, 990, 10, 2, 512 * 1024, 1002, 1024 * 1024, TimeSpan.FromSeconds(2)));

        Assert.Equal("[##########----------]  50%  512.0 KiB/1.0 MiB  lines 1002  sent 1000  ok 990  rejected 10  500/s  ETA 2s", line);
    }
}
