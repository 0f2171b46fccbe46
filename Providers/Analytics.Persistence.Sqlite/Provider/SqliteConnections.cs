using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Analytics.Persistence.Sqlite;

/// <summary>
/// The connections of one provider to its file: one writer, and readers pooled for reuse. WAL
/// journal, so readers never block the writer nor see a half-written commit.
/// </summary>
internal sealed class SqliteConnections : IDisposable
{
    /// <summary>Idle readers kept open; more are opened under load and closed when returned.</summary>
    private const int MaxIdleReaders = 8;

    private readonly string _path;
    private readonly bool _fullSync;
    private readonly TimeSpan _busyTimeout;
    private readonly ConcurrentBag<SqliteConnection> _idleReaders = [];
    private volatile bool _disposed;

    public SqliteConnections(string path, bool fullSync, TimeSpan busyTimeout)
    {
        _path = Path.GetFullPath(path);
        _fullSync = fullSync;
        _busyTimeout = busyTimeout;
        if (Path.GetDirectoryName(_path) is { Length: > 0 } directory)
        {
            Directory.CreateDirectory(directory);
        }

        Writer = Open();
    }

    public SqliteConnection Writer { get; }

    public string FullPath => _path;

    /// <summary>Runs <paramref name="read"/> on a reader connection of the pool.</summary>
    public T Read<T>(Func<SqliteConnection, T> read)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var connection = _idleReaders.TryTake(out var idle) ? idle : Open();
        try
        {
            return read(connection);
        }
        finally
        {
            if (_disposed || _idleReaders.Count >= MaxIdleReaders)
            {
                connection.Dispose();
            }
            else
            {
                _idleReaders.Add(connection);
            }
        }
    }

    public static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idleReaders.TryTake(out var reader))
        {
            reader.Dispose();
        }

        Writer.Dispose();
    }

    private SqliteConnection Open()
    {
        // No pooling: closing a connection must close the file, so that a stopped silo lets go of it.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = _path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = (int)Math.Ceiling(_busyTimeout.TotalSeconds),
        }.ToString());
        try
        {
            connection.Open();

            // WAL with synchronous=NORMAL: a commit survives the process being killed (the OS has
            // the pages); FULL also survives power loss, at the price of an fsync per commit.
            Execute(connection, string.Create(
                CultureInfo.InvariantCulture,
                $"PRAGMA journal_mode=WAL; PRAGMA synchronous={(_fullSync ? "FULL" : "NORMAL")}; PRAGMA busy_timeout={(long)_busyTimeout.TotalMilliseconds};"));
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }
}
