using System.Globalization;

namespace Analytics.Streaming.LocalLog;

/// <summary>
/// The partitions of one local log and its writer: a stream key picks its partition, appends to
/// several partitions run in parallel, and each completes once committed. Records past the
/// retention are trimmed in the background.
/// </summary>
public sealed class LocalLogStore : IQueueWriter, IAsyncDisposable
{
    private readonly LocalLogOptions _options;
    private readonly LocalLogPartition[] _partitions;
    private readonly TimeProvider _time;
    private readonly ITimer _trimTimer;

    public LocalLogStore(LocalLogOptions options, TimeProvider time)
    {
        if (options.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _options = options;
        _time = time;
        Directory.CreateDirectory(options.DataPath);
        _partitions = Enumerable.Range(0, options.Partitions)
            .Select(i => new LocalLogPartition(PartitionPath(i), options.FullSync, time))
            .ToArray();
        _trimTimer = time.CreateTimer(_ => _ = TrimAsync(), null, TimeSpan.FromMinutes(1), options.TrimInterval);
    }

    public int Partitions => _partitions.Length;

    public Task AppendAsync(IReadOnlyList<(string StreamKey, ReadOnlyMemory<byte> Data)> records, CancellationToken cancellationToken)
    {
        var byPartition = new List<(string, ReadOnlyMemory<byte>)>?[_partitions.Length];
        foreach (var record in records)
        {
            (byPartition[PartitionOf(record.StreamKey)] ??= []).Add(record);
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

    /// <summary>Keys of one partition may share a record: they are read by the same receiver, in order.</summary>
    public string GetQueueAffinity(string streamKey) => PartitionOf(streamKey).ToString(CultureInfo.InvariantCulture);

    public int PartitionOf(string streamKey) => LocalLogPartitioner.GetPartition(streamKey, _partitions.Length);

    /// <summary>A reader of one partition, on a connection of its own.</summary>
    public LocalLogReader CreateReader(int partition) => _partitions[partition].CreateReader();

    /// <summary>Deletes the records appended before the retention period.</summary>
    public Task TrimAsync() => Task.WhenAll(_partitions.Select(p => p.TrimAsync(_time.GetUtcNow() - _options.Retention)));

    private string PartitionPath(int index) => Path.Combine(_options.DataPath, $"partition-{index:D3}.db");

    public async ValueTask DisposeAsync()
    {
        await _trimTimer.DisposeAsync();
        foreach (var partition in _partitions)
        {
            await partition.DisposeAsync();
        }
    }
}
