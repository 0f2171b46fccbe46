using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Analytics.Streaming.LocalLog;

/// <summary>
/// One partition of the local log: a SQLite file with one row per record. Appends from concurrent
/// producers are committed together in one transaction (group commit); each producer's task
/// completes after the commit, which is what makes "202 Accepted" mean "durable".
/// AUTOINCREMENT keeps sequence numbers from ever being reused after retention trims rows.
/// </summary>
internal sealed class LocalLogPartition : IAsyncDisposable
{
    private const int MaxRowsPerCommit = 20_000;

    private readonly SqliteConnection _writer;
    private readonly Channel<AppendRequest> _appends = Channel.CreateUnbounded<AppendRequest>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writerLoop;
    private readonly TimeProvider _time;

    public LocalLogPartition(string path, bool fullSync, TimeProvider time)
    {
        Path = path;
        FullSync = fullSync;
        _time = time;
        _writer = SqliteFiles.Open(path, fullSync);
        SqliteFiles.Execute(_writer, """
            CREATE TABLE IF NOT EXISTS records (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                stream_key TEXT NOT NULL,
                appended_at INTEGER NOT NULL,
                data BLOB NOT NULL);
            """);
        _writerLoop = Task.Run(WriteLoopAsync);
    }

    public string Path { get; }

    public bool FullSync { get; }

    public Task AppendAsync(List<(string StreamKey, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken) =>
        EnqueueAsync(new AppendRequest(records), cancellationToken);

    /// <summary>Deletes records appended before the cut-off.</summary>
    public Task TrimAsync(DateTimeOffset olderThan) =>
        EnqueueAsync(new AppendRequest([]) { TrimBefore = olderThan.ToUnixTimeMilliseconds() }, CancellationToken.None);

    /// <summary>A reader of this partition on its own connection.</summary>
    public LocalLogReader CreateReader() => new(Path, FullSync, _time);

    private async Task EnqueueAsync(AppendRequest request, CancellationToken cancellationToken)
    {
        await _appends.Writer.WriteAsync(request, cancellationToken);
        await request.Completion.Task.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<AppendRequest>();
        while (await _appends.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var rows = 0;
            while (rows < MaxRowsPerCommit && _appends.Reader.TryRead(out var request))
            {
                batch.Add(request);
                rows += request.Records.Count;
            }

            try
            {
                Commit(batch);
                batch.ForEach(r => r.Completion.TrySetResult());
            }
            catch (Exception exception)
            {
                batch.ForEach(r => r.Completion.TrySetException(exception));
            }

            batch.Clear();
        }
    }

    private void Commit(List<AppendRequest> batch)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        using var transaction = _writer.BeginTransaction();
        using var insert = _writer.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO records (stream_key, appended_at, data) VALUES ($key, $at, $data)";
        var key = insert.Parameters.Add("$key", SqliteType.Text);
        insert.Parameters.AddWithValue("$at", now);
        var data = insert.Parameters.Add("$data", SqliteType.Blob);
        foreach (var request in batch)
        {
            if (request.TrimBefore is { } cutOff)
            {
                using var trim = _writer.CreateCommand();
                trim.Transaction = transaction;
                trim.CommandText = "DELETE FROM records WHERE appended_at < $cut";
                trim.Parameters.AddWithValue("$cut", cutOff);
                trim.ExecuteNonQuery();
            }

            foreach (var (streamKey, bytes) in request.Records)
            {
                key.Value = streamKey;
                // SQLite binds whole arrays only; a record that is one already (the ingest path's) is not copied again.
                data.Value = MemoryMarshal.TryGetArray(bytes, out var array) && array.Offset == 0 && array.Count == array.Array!.Length
                    ? array.Array
                    : bytes.ToArray();
                insert.ExecuteNonQuery();
            }
        }

        transaction.Commit();
    }

    public async ValueTask DisposeAsync()
    {
        _appends.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        _writer.Dispose();
    }

    private sealed class AppendRequest(List<(string StreamKey, ReadOnlyMemory<byte> Data)> records)
    {
        public List<(string StreamKey, ReadOnlyMemory<byte> Data)> Records { get; } = records;

        public long? TrimBefore { get; init; }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
