using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace Analytics.Persistence.Sqlite;

/// <summary>
/// Orleans grain storage in one SQLite file, for the embedded (single-machine) mode. Writes from
/// all grains are queued and committed together in one transaction (group commit), so the cost of
/// a commit, an fsync with <see cref="SqliteGrainStorageOptions.FullSync"/>, is shared; each write
/// completes only after its transaction has committed. Each write is still conditional on its
/// ETag, checked inside the transaction, and fails alone.
/// <para>
/// ETags come from one counter for the whole file, never reused, so that an ETag from before a
/// clear can never match a state written after it.
/// </para>
/// </summary>
public sealed partial class SqliteGrainStorage : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>, IAsyncDisposable
{
    private readonly SqliteGrainStorageOptions _options;
    private readonly IGrainStorageSerializer _serializer;
    private readonly IActivatorProvider _activators;
    private readonly ILogger _logger;
    private readonly Lock _openLock = new();
    private readonly Channel<WriteRequest> _writes = Channel.CreateUnbounded<WriteRequest>(new UnboundedChannelOptions { SingleReader = true });
    private SqliteConnections? _connections;
    private Task? _writerLoop;
    private bool _disposed;

    public SqliteGrainStorage(string name, SqliteGrainStorageOptions options, IActivatorProvider activators, ILogger<SqliteGrainStorage> logger)
    {
        if (options.Validate() is { } error)
        {
            throw new ArgumentException($"SQLite grain storage '{name}': {error}", nameof(options));
        }

        Name = name;
        _options = options;
        _serializer = options.GrainStorageSerializer;
        _activators = activators;
        _logger = logger;
    }

    public string Name { get; }

    /// <summary>Opens the file at silo start, so a path that cannot be written stops the silo rather than failing activations.</summary>
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(OptionFormattingUtilities.Name<SqliteGrainStorage>(Name), _options.InitStage, _ =>
        {
            Open();
            return Task.CompletedTask;
        });

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ReadStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        WriteStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ClearStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var (etag, data) = Open().Read<(long? ETag, byte[]? Data)>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT etag, data FROM grain_state WHERE grain_id = $g AND state_name = $s";
            command.Parameters.AddWithValue("$g", grainId.ToString());
            command.Parameters.AddWithValue("$s", stateName);
            using var reader = command.ExecuteReader();
            return reader.Read() ? (reader.GetInt64(0), (byte[])reader.GetValue(1)) : (null, null);
        });

        if (etag is null || data is null)
        {
            Reset(grainState);
        }
        else
        {
            grainState.State = _serializer.Deserialize<T>(new BinaryData(data)) ?? CreateInstance<T>();
            grainState.ETag = etag.Value.ToString(CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var request = new WriteRequest(grainId.ToString(), stateName, grainState.ETag, WholeArray(_serializer.Serialize(grainState.State)));
        grainState.ETag = await EnqueueAsync(request, cancellationToken).ConfigureAwait(false);
        grainState.RecordExists = true;
    }

    /// <summary>
    /// Deletes the state. Clearing a state that is not there succeeds whatever the ETag: nothing is
    /// lost. Clearing one that is there needs its ETag.
    /// </summary>
    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        await EnqueueAsync(new WriteRequest(grainId.ToString(), stateName, grainState.ETag, Data: null), cancellationToken).ConfigureAwait(false);
        Reset(grainState);
    }

    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_openLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            loop = _writerLoop;
        }

        // Queued writes still commit: their callers are waiting for them.
        _writes.Writer.TryComplete();
        if (loop is not null)
        {
            await loop.ConfigureAwait(false);
        }

        _connections?.Dispose();
    }

    private async Task<string?> EnqueueAsync(WriteRequest request, CancellationToken cancellationToken)
    {
        Open();
        cancellationToken.ThrowIfCancellationRequested();
        if (!_writes.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(nameof(SqliteGrainStorage), $"SQLite grain storage '{Name}' is closed.");
        }

        // Not cancellable once queued: the write may already be committing, and the grain must
        // learn its outcome (and new ETag) rather than guess.
        return await request.Completion.Task.ConfigureAwait(false);
    }

    /// <summary>Opens the file, creates the schema and starts the writer, once.</summary>
    private SqliteConnections Open()
    {
        if (Volatile.Read(ref _connections) is { } open)
        {
            return open;
        }

        lock (_openLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connections is null)
            {
                var connections = new SqliteConnections(_options.FilePath, _options.FullSync, _options.BusyTimeout);
                try
                {
                    CreateSchema(connections);
                }
                catch
                {
                    connections.Dispose();
                    throw;
                }

                _writerLoop = Task.Run(() => WriteLoopAsync(connections));
                Volatile.Write(ref _connections, connections);
                LogOpened(Name, connections.FullPath);
            }

            return _connections;
        }
    }

    /// <summary>The connections' PRAGMA synchronous (2 is FULL, 1 NORMAL), for tests; every connection is opened alike.</summary>
    internal long SynchronousLevel() => Open().Read(connection =>
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous";
        return (long)command.ExecuteScalar()!;
    });

    /// <summary>The serialised state as an array SQLite can bind, copied only if the serializer did not produce one (states are 100 KB and more).</summary>
    private static byte[] WholeArray(BinaryData data) =>
        MemoryMarshal.TryGetArray(data.ToMemory(), out var array) && array.Offset == 0 && array.Count == array.Array!.Length
            ? array.Array
            : data.ToArray();

    private void Reset<T>(IGrainState<T> grainState)
    {
        grainState.State = CreateInstance<T>();
        grainState.ETag = null;
        grainState.RecordExists = false;
    }

    private T CreateInstance<T>() => _activators.GetActivator<T>().Create();

    private sealed record WriteRequest(string GrainId, string StateName, string? ExpectedETag, byte[]? Data)
    {
        public TaskCompletionSource<string?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "SQLite grain storage '{Name}' opened {Path}")]
    private partial void LogOpened(string name, string path);
}
