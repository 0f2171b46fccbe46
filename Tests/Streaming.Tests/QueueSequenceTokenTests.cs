using Orleans.Streams;

namespace Analytics.Streaming.Tests;

public sealed class QueueSequenceTokenTests
{
    [Fact]
    public void Tokens_order_by_epoch_then_position_then_ordinal_so_a_replay_is_always_newer()
    {
        var first = new QueueSequenceToken(0, new QueuePosition(900), 10);
        var laterPage = new QueueSequenceToken(0, new QueuePosition(1000), 11);
        var samePageNextBatch = new QueueSequenceToken(0, new QueuePosition(1000), 12);
        var replay = new QueueSequenceToken(1, new QueuePosition(5), 13);

        Assert.True(first.Older(laterPage));
        Assert.True(laterPage.Older(samePageNextBatch));
        Assert.True(samePageNextBatch.Older(replay));
        Assert.True(replay.Newer(first));
        Assert.Equal(new[] { first, laterPage, samePageNextBatch, replay }, new[] { replay, samePageNextBatch, first, laterPage }.Order());
    }

    [Fact]
    public void SequenceNumber_is_the_ordinal_so_comparisons_of_numbers_agree_with_CompareTo()
    {
        var kinesis = new QueuePosition("49590338271490256608559692538361571095921575989136588898");
        var token = new QueueSequenceToken(3, kinesis, 42);
        Assert.Equal(42, token.SequenceNumber);
        Assert.Equal(0, token.EventIndex);
        Assert.Equal(1, token.ForEvent(1).EventIndex);
        Assert.True(token.ForEvent(1).Newer(token));
    }

    [Fact]
    public void Equal_tokens_are_equal_and_hash_alike()
    {
        var a = new QueueSequenceToken(2, new QueuePosition(7, 1), 5);
        var b = new QueueSequenceToken(2, new QueuePosition(7, 1), 5);
        Assert.Equal(a, b);
        Assert.True(a.Equals((StreamSequenceToken)b));
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.Equal(0, a.CompareTo(b));
        Assert.NotEqual(a, new QueueSequenceToken(2, new QueuePosition(7, 1), 6));
        Assert.Equal(1, a.CompareTo(null));
    }

    [Fact]
    public void A_token_of_another_kind_cannot_be_compared()
    {
        var token = new QueueSequenceToken(0, new QueuePosition(1), 0);
        Assert.Throws<ArgumentException>(() => token.CompareTo(new Orleans.Providers.Streams.Common.EventSequenceTokenV2(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new QueueSequenceToken(-1, new QueuePosition(1), 0));
    }

    [Fact]
    public void A_batch_container_holds_one_delivery_and_gives_it_only_as_its_type()
    {
        var delivery = new QueueDelivery<int> { Queue = "q", First = new(1), Last = new(2), Items = [3] };
        var container = new QueueBatchContainer(Orleans.Runtime.StreamId.Create("ns", "k"), delivery, new QueueSequenceToken(0, new QueuePosition(2), 0));
        var events = container.GetEvents<QueueDelivery<int>>().ToList();
        Assert.Same(delivery, Assert.Single(events).Item1);
        Assert.Empty(container.GetEvents<QueueDelivery<string>>());
        Assert.Equal(container.SequenceToken, events[0].Item2);
    }
}

public sealed class QueuePositionTests
{
    [Fact]
    public void Positions_order_by_magnitude_then_sub_sequence_and_round_trip_as_text()
    {
        var kinesisLike = new QueuePosition("49590338271490256608559692538361571095921575989136588898");
        Assert.True(new QueuePosition("999") < new QueuePosition("1000"));
        Assert.True(new QueuePosition(7, 1) > new QueuePosition(7));
        Assert.True(kinesisLike > new QueuePosition(long.MaxValue));
        Assert.Equal(new QueuePosition("12", 3), QueuePosition.Parse("12.3"));
        Assert.Equal(kinesisLike, QueuePosition.Parse(kinesisLike.ToString()));
        Assert.Equal("12", new QueuePosition(12).ToString());
        Assert.Throws<ArgumentException>(() => new QueuePosition("007"));
        Assert.Throws<ArgumentException>(() => new QueuePosition("12a"));
        Assert.Throws<ArgumentException>(() => new QueuePosition(""));
        Assert.Throws<ArgumentException>(() => new QueuePosition("12 "));
        Assert.Throws<ArgumentException>(() => new QueuePosition("١٢")); // digits, but not ASCII ones
        Assert.Equal(new QueuePosition(kinesisLike.Sequence, 65_537), kinesisLike.WithSubSequence(65_537));
    }

    [Fact]
    public void A_replay_with_different_boundaries_is_split_at_the_watermark()
    {
        var watermarks = new StreamWatermarks();
        watermarks.Advance(new QueueDelivery<int> { Queue = "q", First = new(1), Last = new(5), Items = [] });
        var outcome = watermarks.Check(new QueueDelivery<int> { Queue = "q", First = new(3), Last = new(9), Items = [] });
        Assert.Equal(DeliveryStatus.ResendAfter, outcome.Status);
        Assert.Equal(new QueuePosition(5), outcome.Watermark);
        Assert.Equal(DeliveryStatus.AlreadyApplied, watermarks.Check(new QueueDelivery<int> { Queue = "q", First = new(2), Last = new(4), Items = [] }).Status);
        Assert.Equal(DeliveryStatus.Gap, watermarks.Check(new QueueDelivery<int> { Queue = "q", First = new(9), Last = new(9), Previous = new(8), Items = [] }).Status);
        Assert.Equal(DeliveryStatus.Applied, watermarks.Check(new QueueDelivery<int> { Queue = "other", First = new(1), Last = new(1), Items = [] }).Status);
        Assert.True(watermarks.Covers(new QueueCheckpointRequest("q", new QueuePosition(5))));
        Assert.False(watermarks.Covers(new QueueCheckpointRequest("q", new QueuePosition(5, 1))));
    }
}
