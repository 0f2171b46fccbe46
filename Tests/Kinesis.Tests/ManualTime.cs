using System.Globalization;

namespace Analytics.Kinesis.Tests;

/// <summary>A clock that moves only when told, for lease expiry without waiting.</summary>
internal sealed class ManualTime : TimeProvider
{
    private long _ticks = DateTimeOffset.Parse("2026-12-01T00:00:00Z", CultureInfo.InvariantCulture).UtcTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
