using System.Globalization;
using System.Text;
using Analytics.Streaming.LocalLog;

// Usage: Streaming.KillTarget <folder>. Runs until killed; prints "ack <key> <n>" after each
// append has returned, from 16 concurrent writers so that appends are group-committed.
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: Streaming.KillTarget <folder>");
    return 2;
}

var log = new LocalLogStore(new LocalLogOptions { DataPath = args[0], Partitions = 4 }, TimeProvider.System);
var output = Console.Out;
var gate = new Lock();
var writers = Enumerable.Range(0, 16).Select(async writer =>
{
    await Task.Yield();
    var key = $"w{writer}";
    for (var n = 1; ; n++)
    {
        var payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{key}:{n}"));
        await log.AppendAsync([(key, payload)], CancellationToken.None);
        lock (gate)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ack {key} {n}"));
            output.Flush();
        }
    }
});
await Task.WhenAll(writers);
return 0;
