namespace Analytics.Streaming.Tests;

/// <summary>How the receiver cuts pages, and cuts replays where it cut before.</summary>
public sealed class QueuePageReaderTests
{
    /// <summary>A queue of records 1..n whose reads return at most what has "arrived".</summary>
    private sealed class FakeReader(int count) : IQueueReader
    {
        private long _after;

        public int Arrived { get; set; } = count;

        public bool IsAtEnd => false;

        public TimeSpan? Lag => null;

        public Task InitializeAsync(QueuePosition? after, CancellationToken cancellationToken)
        {
            _after = after is { } p ? long.Parse(p.Sequence, System.Globalization.CultureInfo.InvariantCulture) : 0;
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<QueueRecord>> ReadAsync(int maxCount, CancellationToken cancellationToken)
        {
            var records = new List<QueueRecord>();
            while (records.Count < maxCount && _after < Arrived)
            {
                _after++;
                records.Add(new QueueRecord("k", Array.Empty<byte>(), new QueuePosition(_after)));
            }

            return Task.FromResult<IReadOnlyList<QueueRecord>>(records);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static async Task<List<long>> PageEndsAsync(QueuePageReader pages, int maxCount, int pagesToRead)
    {
        var ends = new List<long>();
        for (var i = 0; i < pagesToRead; i++)
        {
            var page = await pages.ReadPageAsync(maxCount, CancellationToken.None);
            if (page.Count == 0)
            {
                break;
            }

            ends.Add(long.Parse(page[^1].Position.Sequence, System.Globalization.CultureInfo.InvariantCulture));
        }

        return ends;
    }

    // Past the last cut, a page is what the read-ahead holds: the reader is not asked again
    // while records are buffered (a Kinesis shard allows five reads a second).
    [Fact]
    public async Task A_replay_ends_its_pages_where_the_first_pass_did_even_when_more_has_arrived()
    {
        var reader = new FakeReader(3);
        var pages = new QueuePageReader(reader);
        await pages.StartAsync(null, CancellationToken.None);
        Assert.Equal([3], await PageEndsAsync(pages, 10, 1));
        reader.Arrived = 8;
        Assert.Equal([8], await PageEndsAsync(pages, 10, 1));
        reader.Arrived = 30;

        await pages.StartAsync(null, CancellationToken.None);
        Assert.Equal([3, 8, 10, 20, 30], await PageEndsAsync(pages, 10, 10));
    }

    [Fact]
    public async Task Page_ends_up_to_the_checkpoint_are_forgotten()
    {
        var reader = new FakeReader(3);
        var pages = new QueuePageReader(reader);
        await pages.StartAsync(null, CancellationToken.None);
        await PageEndsAsync(pages, 10, 1);
        reader.Arrived = 8;
        await PageEndsAsync(pages, 10, 1);
        pages.Committed(new QueuePosition(3));
        reader.Arrived = 30;

        await pages.StartAsync(new QueuePosition(3), CancellationToken.None);
        Assert.Equal([8, 13, 23, 30], await PageEndsAsync(pages, 10, 10));
    }

    [Fact]
    public async Task A_replay_may_hand_out_one_record_per_page_up_to_a_position()
    {
        var pages = new QueuePageReader(new FakeReader(20));
        await pages.StartAsync(new QueuePosition(2), CancellationToken.None, singleRecordsUntil: new QueuePosition(6));
        Assert.Equal([3, 4, 5, 6, 12, 20], await PageEndsAsync(pages, 10, 10));
    }
}
