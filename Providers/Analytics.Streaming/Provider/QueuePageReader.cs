namespace Analytics.Streaming;

/// <summary>
/// Cuts a queue into pages, and after a rewind cuts the replay at exactly the same places. A
/// stream consumer's watermark is the Last of a delivery it applied, and a delivery carries one
/// payload for a page; if a replayed page straddled that watermark, the consumer could neither
/// apply the payload (part of it was applied before) nor skip it (part of it was not). So the
/// ends of the pages handed out since the last checkpoint are kept, and a replay ends its pages
/// there; pages past them are cut as they come. That is not enough when a consumer's watermark
/// comes from pages this reader never cut (another silo's receiver, an earlier process): a replay
/// can then be asked to hand out one record per page up to a position. A watermark is the last
/// item of its stream in some record, so a one-record page never straddles it. The reader's
/// read-ahead is kept in a buffer.
/// </summary>
internal sealed class QueuePageReader(IQueueReader reader)
{
    private readonly List<QueueRecord> _buffer = [];
    private readonly List<QueuePosition> _boundaries = [];
    private List<QueuePosition> _cuts = [];
    private int _nextCut;
    private QueuePosition? _singleRecordsUntil;

    public IQueueReader Reader => reader;

    /// <summary>True once a closed queue was read to its end and every record was handed out.</summary>
    public bool IsAtEnd => _buffer.Count == 0 && reader.IsAtEnd;

    /// <summary>
    /// Starts reading just after the position (a checkpoint), or at the queue's start; a rewind
    /// replays with the earlier page ends, or one record per page up to <paramref name="singleRecordsUntil"/>.
    /// </summary>
    public async Task StartAsync(QueuePosition? after, CancellationToken cancellationToken, QueuePosition? singleRecordsUntil = null)
    {
        _buffer.Clear();
        _singleRecordsUntil = singleRecordsUntil;
        _boundaries.RemoveAll(b => after is { } checkpoint && b <= checkpoint);
        _cuts = [.. _boundaries];
        _nextCut = 0;
        await reader.InitializeAsync(after, cancellationToken);
    }

    /// <summary>The checkpoint moved: page ends up to it can no longer be replayed.</summary>
    public void Committed(QueuePosition checkpoint)
    {
        _boundaries.RemoveAll(b => b <= checkpoint);
        _cuts.RemoveAll(c => c <= checkpoint);
        _nextCut = 0;
    }

    /// <summary>The next page of at most <paramref name="maxCount"/> records; empty when there are none yet.</summary>
    public async Task<IReadOnlyList<QueueRecord>> ReadPageAsync(int maxCount, CancellationToken cancellationToken)
    {
        await FillAsync(maxCount, cancellationToken);
        if (_buffer.Count == 0)
        {
            return [];
        }

        var count = SingleRecord(_buffer[0]) ? 1 : Math.Min(maxCount, _buffer.Count);
        if (CutFor(_buffer[0].Position) is { } cut)
        {
            var upToCut = 0;
            while (upToCut < count && _buffer[upToCut].Position <= cut)
            {
                upToCut++;
            }

            count = upToCut;
        }

        var page = _buffer.GetRange(0, count);
        _buffer.RemoveRange(0, count);
        if (_boundaries.Count == 0 || page[^1].Position > _boundaries[^1])
        {
            _boundaries.Add(page[^1].Position);
        }

        return page;
    }

    /// <summary>Reads until the buffer holds a page or, when replaying, until it reaches the end of the page being replayed.</summary>
    private async Task FillAsync(int maxCount, CancellationToken cancellationToken)
    {
        while (_buffer.Count < maxCount && !reader.IsAtEnd)
        {
            if (_buffer.Count > 0 && (SingleRecord(_buffer[0]) || !(CutFor(_buffer[0].Position) is { } cut && _buffer[^1].Position < cut)))
            {
                return;
            }

            var records = await reader.ReadAsync(maxCount - _buffer.Count, cancellationToken);
            if (records.Count == 0)
            {
                return;
            }

            _buffer.AddRange(records);
        }
    }

    private bool SingleRecord(QueueRecord first) => _singleRecordsUntil is { } until && first.Position <= until;

    /// <summary>The end of the earlier page that a page starting at <paramref name="first"/> replays, if any.</summary>
    private QueuePosition? CutFor(QueuePosition first)
    {
        while (_nextCut < _cuts.Count && _cuts[_nextCut] < first)
        {
            _nextCut++;
        }

        return _nextCut < _cuts.Count ? _cuts[_nextCut] : null;
    }
}
