using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Analytics.Streaming.LocalLog;

/// <summary>Reads one partition in sequence order through its own connection (WAL lets it read while the writer writes).</summary>
public sealed class LocalLogReader(string path, bool fullSync, TimeProvider? time = null) : IQueueReader
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private SqliteConnection? _connection;
    private long _after;

    // A partition never closes.
    public bool IsAtEnd => false;

    /// <summary>
    /// The iterator age, as Kinesis' MillisBehindLatest means it: zero once a read reached the
    /// newest record, else how long ago the last record read was appended.
    /// </summary>
    public TimeSpan? Lag { get; private set; }

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
        command.CommandText = "SELECT seq, stream_key, data, appended_at FROM records WHERE seq > $after ORDER BY seq LIMIT $n";
        command.Parameters.AddWithValue("$after", _after);
        command.Parameters.AddWithValue("$n", maxCount);
        using var reader = command.ExecuteReader();
        var records = new List<QueueRecord>();
        long lastAppended = 0;
        while (reader.Read())
        {
            var seq = reader.GetInt64(0);
            records.Add(new QueueRecord(reader.GetString(1), (byte[])reader.GetValue(2), new QueuePosition(seq)));
            lastAppended = reader.GetInt64(3);
            _after = seq;
        }

        Lag = records.Count < maxCount
            ? TimeSpan.Zero
            : TimeSpan.FromMilliseconds(Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - lastAppended));

        return Task.FromResult<IReadOnlyList<QueueRecord>>(records);
    }

    public ValueTask DisposeAsync()
    {
        _connection?.Dispose();
        _connection = null;
        return ValueTask.CompletedTask;
    }
}
