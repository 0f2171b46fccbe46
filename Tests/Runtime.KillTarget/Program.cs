using System.Globalization;
using Analytics.Runtime;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.LocalLog;
using Microsoft.Extensions.Logging.Abstractions;

// Usage: state <db file> | log <folder>. Runs until killed; prints "ack <key> <n>" after each
// write has returned, from 16 concurrent writers so that writes are group-committed.
if (args.Length != 2 || args[0] is not ("state" or "log"))
{
    Console.Error.WriteLine("usage: Runtime.KillTarget state <db file> | log <folder>");
    return 2;
}

var output = Console.Out;
var writers = Enumerable.Range(0, 16).Select(async writer =>
{
    await Task.Yield();
    if (args[0] == "state")
    {
        var storage = Shared.Storage ??= new SqliteGrainStorage(new SqliteGrainStorageOptions { FilePath = args[1] }, NullLogger<SqliteGrainStorage>.Instance);
        var state = new Shared.Counter();
        var grain = new GrainId("counter", $"w{writer}");
        for (var n = 1; ; n++)
        {
            state.State = n;
            await storage.WriteStateAsync("s", grain, state, CancellationToken.None);
            Shared.Ack(output, $"w{writer}", n);
        }
    }
    else
    {
        var log = Shared.Log ??= new LocalLogQueueAdapter("kill", new LocalLogOptions { DataPath = args[1], Partitions = 4 }, TimeProvider.System);
        for (var n = 1; ; n++)
        {
            var payload = System.Text.Encoding.UTF8.GetBytes($"w{writer}:{n.ToString(CultureInfo.InvariantCulture)}");
            await log.AppendAsync([(new StreamId("ns", $"w{writer}"), payload)], CancellationToken.None);
            Shared.Ack(output, $"w{writer}", n);
        }
    }
});
await Task.WhenAll(writers);
return 0;

internal static class Shared
{
    private static readonly object Lock = new();

    public static SqliteGrainStorage? Storage { get; set; }

    public static LocalLogQueueAdapter? Log { get; set; }

    public static void Ack(TextWriter output, string key, int n)
    {
        lock (Lock)
        {
            output.WriteLine($"ack {key} {n}");
            output.Flush();
        }
    }

    public sealed class Counter : IGrainState<int>
    {
        public int State { get; set; }

        public string? ETag { get; set; }

        public bool RecordExists { get; set; }
    }
}
