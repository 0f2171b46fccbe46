using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Analytics.Streaming.LocalLog;

/// <summary>Reads one partition in sequence order through its own connection (WAL lets it read while the writer writes).</summary>
public sealed class LocalLogReader(string path, bool fullSync) : IQueueReader
{
    private SqliteConnection? _connection;
    private long _after;

    // A partition never closes.
    public bool IsAtEnd => false;

    // The log is local: nothing to be behind but what the receiver has not read yet.
    public TimeSpan? Lag => null;

    public Task InitializeAsync(QueuePosition? after, CancellationToken cancellationToken)
    {
        _connection ??= SqliteFiles.Open(path, fullSync);
        _after = after is { } position ? long.Parse(position.Sequence, CultureInfo.InvariantCulture) : 0;
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<QueueRecord>> ReadAsync(int maxCount, CancellationToken cancellationToken)
    {
        var connection = _connection ?? throw new InvalidOperationException("The reader is not initialized.");
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, stream_key, data FROM records WHERE seq > $after ORDER BY seq LIMIT $n";
        command.Parameters.AddWithValue("$after", _after);
        command.Parameters.AddWithValue("$n", maxCount);
        using var reader = command.ExecuteReader();
        var records = new List<QueueRecord>();
        while (reader.Read())
        {
            var seq = reader.GetInt64(0);
            records.Add(new QueueRecord(reader.GetString(1), (byte[])reader.GetValue(2), new QueuePosition(seq)));
            _after = seq;
        }

        return Task.FromResult<IReadOnlyList<QueueRecord>>(records);
    }

    public ValueTask DisposeAsync()
    {
        _connection?.Dispose();
        _connection = null;
        return ValueTask.CompletedTask;
    }
}
