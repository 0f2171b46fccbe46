using System.Globalization;
using System.Threading.Channels;
using Analytics.Runtime.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Analytics.Runtime.Persistence;

public sealed class SqliteGrainStorageOptions
{
    /// <summary>The database file.</summary>
    public string FilePath { get; set; } = Path.Combine("data", "grain-state.db");

    /// <summary>fsync every commit (survives power loss). Off by default: commits survive a process kill either way.</summary>
    public bool FullSync { get; set; }

    /// <summary>Most writes committed in one transaction.</summary>
    public int MaxWritesPerCommit { get; set; } = 512;
}

/// <summary>
/// The embedded default grain storage. Writes from many grains are queued and committed together
/// in one transaction (group commit), so the cost of a commit is shared; each write's task
/// completes only after its transaction has committed. Each write is still conditional on the
/// ETag, checked inside the transaction.
/// </summary>
public sealed partial class SqliteGrainStorage : IGrainStorage, IAsyncDisposable
{
    private readonly SqliteGrainStorageOptions _options;
    private readonly ILogger _logger;
    private readonly SqliteConnection _writer;
    private readonly Channel<WriteRequest> _writes = Channel.CreateUnbounded<WriteRequest>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writerLoop;
    private readonly ThreadLocal<SqliteConnection> _readers;
    private readonly List<SqliteConnection> _allReaders = [];

    public SqliteGrainStorage(SqliteGrainStorageOptions options, ILogger<SqliteGrainStorage> logger)
    {
        _options = options;
        _logger = logger;
        _writer = SqliteDatabase.Open(options.FilePath, options.FullSync);
        SqliteDatabase.Execute(_writer, """
            CREATE TABLE IF NOT EXISTS grain_state (
                grain_id TEXT NOT NULL,
                state_name TEXT NOT NULL,
                etag INTEGER NOT NULL,
                data BLOB NOT NULL,
                PRIMARY KEY (grain_id, state_name)) WITHOUT ROWID;
            """);
        _readers = new ThreadLocal<SqliteConnection>(() =>
        {
            var connection = SqliteDatabase.Open(options.FilePath, options.FullSync);
            lock (_allReaders)
            {
                _allReaders.Add(connection);
            }

            return connection;
        });
        _writerLoop = Task.Run(WriteLoopAsync);
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        using var command = _readers.Value!.CreateCommand();
        command.CommandText = "SELECT etag, data FROM grain_state WHERE grain_id = $g AND state_name = $s";
        command.Parameters.AddWithValue("$g", grainId.ToString());
        command.Parameters.AddWithValue("$s", stateName);
        using var reader = command.ExecuteReader();
        if (reader.Read())
        {
            grainState.ETag = reader.GetInt64(0).ToString(CultureInfo.InvariantCulture);
            grainState.State = GrainStateSerializer.Deserialize<T>((byte[])reader.GetValue(1))!;
            grainState.RecordExists = true;
        }
        else
        {
            grainState.ETag = null;
            grainState.RecordExists = false;
        }

        return Task.CompletedTask;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var request = new WriteRequest(grainId.ToString(), stateName, grainState.ETag, GrainStateSerializer.Serialize(grainState.State));
        await _writes.Writer.WriteAsync(request, cancellationToken);
        grainState.ETag = await request.Completion.Task.ConfigureAwait(false);
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var request = new WriteRequest(grainId.ToString(), stateName, grainState.ETag, Data: null);
        await _writes.Writer.WriteAsync(request, cancellationToken);
        await request.Completion.Task.ConfigureAwait(false);
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<WriteRequest>(_options.MaxWritesPerCommit);
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < _options.MaxWritesPerCommit && _writes.Reader.TryRead(out var request))
            {
                batch.Add(request);
            }

            CommitBatch(batch);
            batch.Clear();
        }
    }

    private void CommitBatch(List<WriteRequest> batch)
    {
        var outcomes = new (string? ETag, Exception? Error)[batch.Count];
        try
        {
            using var transaction = _writer.BeginTransaction();
            for (var i = 0; i < batch.Count; i++)
            {
                outcomes[i] = Apply(batch[i], transaction);
            }

            transaction.Commit();
        }
        catch (Exception exception)
        {
            LogCommitFailed(exception, batch.Count);
            foreach (var request in batch)
            {
                request.Completion.TrySetException(exception);
            }

            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            if (outcomes[i].Error is { } error)
            {
                batch[i].Completion.TrySetException(error);
            }
            else
            {
                batch[i].Completion.TrySetResult(outcomes[i].ETag);
            }
        }
    }

    private (string? ETag, Exception? Error) Apply(WriteRequest request, SqliteTransaction transaction)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = transaction;
        command.Parameters.AddWithValue("$g", request.GrainId);
        command.Parameters.AddWithValue("$s", request.StateName);
        var expected = request.ExpectedETag is null ? (long?)null : long.Parse(request.ExpectedETag, CultureInfo.InvariantCulture);
        if (request.Data is null)
        {
            command.CommandText = "DELETE FROM grain_state WHERE grain_id = $g AND state_name = $s AND etag = $e";
            command.Parameters.AddWithValue("$e", expected ?? -1);
            return expected is null || command.ExecuteNonQuery() == 1 ? (null, null) : (null, StaleError(request, transaction));
        }

        command.Parameters.AddWithValue("$d", request.Data);
        if (expected is null)
        {
            command.CommandText = "INSERT INTO grain_state (grain_id, state_name, etag, data) VALUES ($g, $s, 1, $d) ON CONFLICT DO NOTHING";
            return command.ExecuteNonQuery() == 1 ? ("1", null) : (null, StaleError(request, transaction));
        }

        command.CommandText = "UPDATE grain_state SET etag = etag + 1, data = $d WHERE grain_id = $g AND state_name = $s AND etag = $e";
        command.Parameters.AddWithValue("$e", expected.Value);
        return command.ExecuteNonQuery() == 1 ? ((expected.Value + 1).ToString(CultureInfo.InvariantCulture), null) : (null, StaleError(request, transaction));
    }

    private InconsistentStateException StaleError(WriteRequest request, SqliteTransaction transaction)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT etag FROM grain_state WHERE grain_id = $g AND state_name = $s";
        command.Parameters.AddWithValue("$g", request.GrainId);
        command.Parameters.AddWithValue("$s", request.StateName);
        var current = command.ExecuteScalar() is long etag ? etag.ToString(CultureInfo.InvariantCulture) : null;
        return InconsistentStateException.ForState(request.GrainId, request.StateName, request.ExpectedETag, current);
    }

    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        _writer.Dispose();
        lock (_allReaders)
        {
            _allReaders.ForEach(c => c.Dispose());
        }

        _readers.Dispose();
    }

    private sealed record WriteRequest(string GrainId, string StateName, string? ExpectedETag, byte[]? Data)
    {
        public TaskCompletionSource<string?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Committing {Count} grain state writes to SQLite failed")]
    private partial void LogCommitFailed(Exception exception, int count);
}
