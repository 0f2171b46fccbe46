using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Analytics.Persistence.Sqlite;

/// <summary>The single writer: group commit of the queued writes, each conditional on its ETag.</summary>
public sealed partial class SqliteGrainStorage
{
    private static void CreateSchema(SqliteConnections connections)
    {
        // The runtime's storage used the same table, so its files open here too. The counter starts
        // past every ETag already in the file, so that none is handed out twice.
        SqliteConnections.Execute(connections.Writer, """
            CREATE TABLE IF NOT EXISTS grain_state (
                grain_id TEXT NOT NULL,
                state_name TEXT NOT NULL,
                etag INTEGER NOT NULL,
                data BLOB NOT NULL,
                PRIMARY KEY (grain_id, state_name)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS etag_counter (
                id INTEGER PRIMARY KEY CHECK (id = 0),
                value INTEGER NOT NULL);
            INSERT OR IGNORE INTO etag_counter (id, value) SELECT 0, COALESCE(MAX(etag), 0) FROM grain_state;
            """);
    }

    private async Task WriteLoopAsync(SqliteConnections connections)
    {
        var batch = new List<WriteRequest>(_options.MaxWritesPerCommit);
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < _options.MaxWritesPerCommit && _writes.Reader.TryRead(out var request))
            {
                batch.Add(request);
            }

            CommitBatch(connections.Writer, batch);
            batch.Clear();
        }
    }

    private void CommitBatch(SqliteConnection writer, List<WriteRequest> batch)
    {
        var outcomes = new (string? ETag, Exception? Error)[batch.Count];
        try
        {
            // BEGIN IMMEDIATE (the default here): the file's write lock is taken up front, so a
            // second process on the same file waits (busy_timeout) instead of failing mid-batch.
            using var transaction = writer.BeginTransaction();
            var counter = ReadCounter(writer, transaction);
            for (var i = 0; i < batch.Count; i++)
            {
                outcomes[i] = Apply(writer, transaction, batch[i], ref counter);
            }

            using (var update = writer.CreateCommand())
            {
                update.Transaction = transaction;
                update.CommandText = "UPDATE etag_counter SET value = $v WHERE id = 0";
                update.Parameters.AddWithValue("$v", counter);
                update.ExecuteNonQuery();
            }

            transaction.Commit();
        }
        catch (Exception exception)
        {
            LogCommitFailed(exception, Name, batch.Count);
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

    /// <summary>One write or clear inside the batch's transaction; a conflict is its outcome, not the batch's.</summary>
    private (string? ETag, Exception? Error) Apply(SqliteConnection writer, SqliteTransaction transaction, WriteRequest request, ref long counter)
    {
        var stored = StoredETag(writer, transaction, request);
        long? expected = request.ExpectedETag is null ? null
            : long.TryParse(request.ExpectedETag, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed
            : -1;
        if (request.Data is null && stored is null)
        {
            return (null, null);
        }

        if (stored != expected)
        {
            return (null, Conflict(request, stored));
        }

        using var command = writer.CreateCommand();
        command.Transaction = transaction;
        command.Parameters.AddWithValue("$g", request.GrainId);
        command.Parameters.AddWithValue("$s", request.StateName);
        if (request.Data is null)
        {
            command.CommandText = "DELETE FROM grain_state WHERE grain_id = $g AND state_name = $s";
            command.ExecuteNonQuery();
            return (null, null);
        }

        var etag = ++counter;
        command.CommandText = """
            INSERT INTO grain_state (grain_id, state_name, etag, data) VALUES ($g, $s, $e, $d)
            ON CONFLICT (grain_id, state_name) DO UPDATE SET etag = excluded.etag, data = excluded.data
            """;
        command.Parameters.AddWithValue("$e", etag);
        command.Parameters.AddWithValue("$d", request.Data);
        command.ExecuteNonQuery();
        return (etag.ToString(CultureInfo.InvariantCulture), null);
    }

    /// <summary>Read inside the write transaction, which holds the file's write lock: nothing can change it before the statement that follows.</summary>
    private static long? StoredETag(SqliteConnection writer, SqliteTransaction transaction, WriteRequest request)
    {
        using var command = writer.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT etag FROM grain_state WHERE grain_id = $g AND state_name = $s";
        command.Parameters.AddWithValue("$g", request.GrainId);
        command.Parameters.AddWithValue("$s", request.StateName);
        return command.ExecuteScalar() is long etag ? etag : null;
    }

    private static long ReadCounter(SqliteConnection writer, SqliteTransaction transaction)
    {
        using var command = writer.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT value FROM etag_counter WHERE id = 0";
        return (long)command.ExecuteScalar()!;
    }

    private InconsistentStateException Conflict(WriteRequest request, long? stored)
    {
        var storedETag = stored?.ToString(CultureInfo.InvariantCulture);
        return new InconsistentStateException(
            $"State '{request.StateName}' of grain {request.GrainId} in SQLite grain storage '{Name}' has ETag {storedETag ?? "(none)"}, but the grain has {request.ExpectedETag ?? "(none)"}: another activation or writer changed it.",
            storedETag,
            request.ExpectedETag);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite grain storage '{Name}' failed to commit {Count} writes")]
    private partial void LogCommitFailed(Exception exception, string name, int count);
}
