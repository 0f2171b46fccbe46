using Microsoft.Data.Sqlite;

namespace Analytics.Streaming.LocalLog;

/// <summary>Checkpoints and dead letters of the local log, in one SQLite file beside the partitions.</summary>
public sealed class LocalLogMetadataStore : IQueueCheckpointer, IDeadLetterStore, IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    public LocalLogMetadataStore(LocalLogOptions options)
    {
        _connection = SqliteFiles.Open(Path.Combine(options.DataPath, "stream-metadata.db"), options.FullSync);
        SqliteFiles.Execute(_connection, """
            CREATE TABLE IF NOT EXISTS checkpoints (queue TEXT PRIMARY KEY, sequence TEXT NOT NULL, sub INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, sequence TEXT NOT NULL,
                reason TEXT NOT NULL, time INTEGER NOT NULL, data BLOB NOT NULL);
            """);
    }

    public Task<QueuePosition?> LoadAsync(string queue, CancellationToken cancellationToken) => Task.FromResult(Load(queue));

    public Task SaveAsync(string queue, QueuePosition position, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            // Checkpoints only move forward, even if a slow receiver that lost its queue saves late.
            if (Load(queue) is { } existing && existing >= position)
            {
                return Task.CompletedTask;
            }

            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO checkpoints (queue, sequence, sub) VALUES ($q, $s, $u) ON CONFLICT (queue) DO UPDATE SET sequence = $s, sub = $u";
            command.Parameters.AddWithValue("$q", queue);
            command.Parameters.AddWithValue("$s", position.Sequence);
            command.Parameters.AddWithValue("$u", position.SubSequence);
            command.ExecuteNonQuery();
        }

        return Task.CompletedTask;
    }

    public Task AddAsync(DeadLetter letter, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO dead_letters (queue, sequence, reason, time, data) VALUES ($q, $s, $r, $t, $d)";
            command.Parameters.AddWithValue("$q", letter.Queue);
            command.Parameters.AddWithValue("$s", letter.Sequence);
            command.Parameters.AddWithValue("$r", letter.Reason);
            command.Parameters.AddWithValue("$t", letter.Time.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$d", letter.Data);
            command.ExecuteNonQuery();
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<DeadLetter>> ListAsync(int limit, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT queue, sequence, reason, time, data FROM dead_letters ORDER BY id DESC LIMIT $n";
            command.Parameters.AddWithValue("$n", limit);
            using var reader = command.ExecuteReader();
            var letters = new List<DeadLetter>();
            while (reader.Read())
            {
                letters.Add(new DeadLetter(reader.GetString(0), reader.GetString(1), reader.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)), (byte[])reader.GetValue(4)));
            }

            return Task.FromResult<IReadOnlyList<DeadLetter>>(letters);
        }
    }

    public Task<long> CountAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM dead_letters";
            return Task.FromResult((long)command.ExecuteScalar()!);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _connection.Dispose();
        }
    }

    private QueuePosition? Load(string queue)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT sequence, sub FROM checkpoints WHERE queue = $q";
            command.Parameters.AddWithValue("$q", queue);
            using var reader = command.ExecuteReader();
            return reader.Read() ? new QueuePosition(reader.GetString(0), reader.GetInt32(1)) : null;
        }
    }
}
