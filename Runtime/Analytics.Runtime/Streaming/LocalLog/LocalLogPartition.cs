using System.Threading.Channels;
using Analytics.Runtime.Storage;
using Microsoft.Data.Sqlite;

namespace Analytics.Runtime.Streaming.LocalLog;

/// <summary>
/// One partition of the local log: a SQLite file with one row per record. Appends from concurrent
/// producers are committed together in one transaction (group commit); each producer's task
/// completes after the commit, which is what makes "202 Accepted" mean "durable".
/// AUTOINCREMENT keeps sequence numbers from ever being reused after retention trims rows.
/// </summary>
internal sealed class LocalLogPartition : IAsyncDisposable
{
    private readonly SqliteConnection _writer;
    private readonly Channel<AppendRequest> _appends = Channel.CreateUnbounded<AppendRequest>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writerLoop;
    private readonly TimeProvider _timeProvider;

    public LocalLogPartition(string path, bool fullSync, TimeProvider timeProvider)
    {
        Path = path;
        FullSync = fullSync;
        _timeProvider = timeProvider;
        _writer = SqliteDatabase.Open(path, fullSync);
        SqliteDatabase.Execute(_writer, """
            CREATE TABLE IF NOT EXISTS log (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                ns TEXT NOT NULL,
                stream_key TEXT NOT NULL,
                appended_at INTEGER NOT NULL,
                data BLOB NOT NULL);
            """);
        _writerLoop = Task.Run(WriteLoopAsync);
    }

    public string Path { get; }

    public bool FullSync { get; }

    public Task AppendAsync(List<(StreamId Stream, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken) =>
        EnqueueAsync(new AppendRequest(records), cancellationToken);

    /// <summary>Deletes records appended before the cut-off.</summary>
    public Task TrimAsync(DateTimeOffset olderThan) =>
        EnqueueAsync(new AppendRequest([]) { TrimBefore = olderThan.ToUnixTimeMilliseconds() }, CancellationToken.None);

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
            while (rows < 20_000 && _appends.Reader.TryRead(out var request))
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
        var now = _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        using var transaction = _writer.BeginTransaction();
        using var insert = _writer.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO log (ns, stream_key, appended_at, data) VALUES ($ns, $key, $at, $data)";
        var ns = insert.Parameters.Add("$ns", SqliteType.Text);
        var key = insert.Parameters.Add("$key", SqliteType.Text);
        insert.Parameters.AddWithValue("$at", now);
        var data = insert.Parameters.Add("$data", SqliteType.Blob);
        foreach (var request in batch)
        {
            if (request.TrimBefore is { } cutOff)
            {
                using var trim = _writer.CreateCommand();
                trim.Transaction = transaction;
                trim.CommandText = "DELETE FROM log WHERE appended_at < $cut";
                trim.Parameters.AddWithValue("$cut", cutOff);
                trim.ExecuteNonQuery();
            }

            foreach (var (stream, bytes) in request.Records)
            {
                ns.Value = stream.Namespace;
                key.Value = stream.Key;
                data.Value = bytes.ToArray();
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

    private sealed class AppendRequest(List<(StreamId Stream, ReadOnlyMemory<byte> Data)> records)
    {
        public List<(StreamId Stream, ReadOnlyMemory<byte> Data)> Records { get; } = records;

        public long? TrimBefore { get; init; }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <summary>Reads one partition in sequence order through its own connection (WAL lets it read while the writer writes).</summary>
internal sealed class LocalLogReceiver(string path, bool fullSync) : IQueueAdapterReceiver
{
    private SqliteConnection? _connection;
    private long _after;

    public bool IsAtEnd => false;

    public TimeSpan? Lag => null;

    public Task InitializeAsync(StreamSequenceToken? after, CancellationToken cancellationToken)
    {
        _connection ??= SqliteDatabase.Open(path, fullSync);
        _after = after is { } token ? long.Parse(token.Sequence, System.Globalization.CultureInfo.InvariantCulture) : 0;
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<QueueRecord>> GetMessagesAsync(int maxCount, CancellationToken cancellationToken)
    {
        using var command = _connection!.CreateCommand();
        command.CommandText = "SELECT seq, ns, stream_key, data FROM log WHERE seq > $after ORDER BY seq LIMIT $n";
        command.Parameters.AddWithValue("$after", _after);
        command.Parameters.AddWithValue("$n", maxCount);
        using var reader = command.ExecuteReader();
        var records = new List<QueueRecord>();
        while (reader.Read())
        {
            var seq = reader.GetInt64(0);
            records.Add(new QueueRecord(new StreamId(reader.GetString(1), reader.GetString(2)), (byte[])reader.GetValue(3), new StreamSequenceToken(seq)));
            _after = seq;
        }

        return Task.FromResult<IReadOnlyList<QueueRecord>>(records);
    }

    public ValueTask DisposeAsync()
    {
        _connection?.Dispose();
        return ValueTask.CompletedTask;
    }
}
