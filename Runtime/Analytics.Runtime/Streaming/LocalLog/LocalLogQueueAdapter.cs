using System.Globalization;
using Analytics.Runtime.Storage;
using Microsoft.Data.Sqlite;

namespace Analytics.Runtime.Streaming.LocalLog;

/// <summary>The local log as a queue adapter: partition i is queue i; a stream's key picks its partition.</summary>
public sealed class LocalLogQueueAdapter : IQueueAdapter, IAsyncDisposable
{
    private readonly LocalLogOptions _options;
    private readonly LocalLogPartition[] _partitions;
    private readonly TimeProvider _timeProvider;
    private readonly ITimer _trimTimer;

    public LocalLogQueueAdapter(string name, LocalLogOptions options, TimeProvider timeProvider)
    {
        Name = name;
        _options = options;
        _timeProvider = timeProvider;
        Directory.CreateDirectory(options.DataPath);
        _partitions = Enumerable.Range(0, options.Partitions)
            .Select(i => new LocalLogPartition(PartitionPath(i), options.FullSync, timeProvider))
            .ToArray();
        _trimTimer = timeProvider.CreateTimer(_ => _ = TrimAsync(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(10));
    }

    public string Name { get; }

    public Task<IReadOnlyList<QueueId>> GetQueuesAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<QueueId>>(Enumerable.Range(0, _partitions.Length).Select(i => new QueueId(Name, i.ToString(CultureInfo.InvariantCulture))).ToList());

    public Task AppendAsync(IReadOnlyList<(StreamId Stream, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken)
    {
        var byPartition = new List<(StreamId, ReadOnlyMemory<byte>)>?[_partitions.Length];
        foreach (var record in records)
        {
            (byPartition[StreamPartitioner.GetPartition(record.Stream, _partitions.Length)] ??= []).Add(record);
        }

        var appends = new List<Task>(_partitions.Length);
        for (var i = 0; i < byPartition.Length; i++)
        {
            if (byPartition[i] is { } list)
            {
                appends.Add(_partitions[i].AppendAsync(list, cancellationToken));
            }
        }

        return Task.WhenAll(appends);
    }

    public string GetQueueAffinity(StreamId stream) => StreamPartitioner.GetPartition(stream, _partitions.Length).ToString(CultureInfo.InvariantCulture);

    public IQueueAdapterReceiver CreateReceiver(QueueId queue)
    {
        var partition = _partitions[int.Parse(queue.Name, CultureInfo.InvariantCulture)];
        return new LocalLogReceiver(partition.Path, partition.FullSync);
    }

    private Task TrimAsync() => Task.WhenAll(_partitions.Select(p => p.TrimAsync(_timeProvider.GetUtcNow() - _options.Retention)));

    private string PartitionPath(int index) => Path.Combine(_options.DataPath, $"log-{index:D3}.db");

    public async ValueTask DisposeAsync()
    {
        await _trimTimer.DisposeAsync();
        foreach (var partition in _partitions)
        {
            await partition.DisposeAsync();
        }
    }
}

/// <summary>Checkpoints and dead letters of the local log, in one SQLite file beside the partitions.</summary>
public sealed class LocalLogMetadataStore : IStreamCheckpointer, IDeadLetterStore, IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly object _lock = new();

    public LocalLogMetadataStore(LocalLogOptions options)
    {
        _connection = SqliteDatabase.Open(Path.Combine(options.DataPath, "stream-metadata.db"), options.FullSync);
        SqliteDatabase.Execute(_connection, """
            CREATE TABLE IF NOT EXISTS checkpoints (queue TEXT PRIMARY KEY, sequence TEXT NOT NULL, sub INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, sequence TEXT NOT NULL,
                reason TEXT NOT NULL, time INTEGER NOT NULL, data BLOB NOT NULL);
            """);
    }

    public Task<StreamSequenceToken?> LoadAsync(QueueId queue, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT sequence, sub FROM checkpoints WHERE queue = $q";
            command.Parameters.AddWithValue("$q", queue.ToString());
            using var reader = command.ExecuteReader();
            return Task.FromResult<StreamSequenceToken?>(reader.Read() ? new StreamSequenceToken(reader.GetString(0), reader.GetInt32(1)) : null);
        }
    }

    public async Task SaveAsync(QueueId queue, StreamSequenceToken token, CancellationToken cancellationToken)
    {
        // Checkpoints only move forward, even if a slow agent that lost its queue saves late.
        var current = await LoadAsync(queue, cancellationToken);
        if (current is { } existing && existing >= token)
        {
            return;
        }

        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "INSERT INTO checkpoints (queue, sequence, sub) VALUES ($q, $s, $u) ON CONFLICT (queue) DO UPDATE SET sequence = $s, sub = $u";
            command.Parameters.AddWithValue("$q", queue.ToString());
            command.Parameters.AddWithValue("$s", token.Sequence);
            command.Parameters.AddWithValue("$u", token.SubSequence);
            command.ExecuteNonQuery();
        }
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

    public void Dispose() => _connection.Dispose();
}
