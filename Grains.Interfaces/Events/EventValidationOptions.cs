namespace Analytics.Events;

/// <summary>
/// Limits applied to incoming events. The defaults are the contract's; the class is plain so it
/// can be bound from configuration.
/// </summary>
public sealed class EventValidationOptions
{
    /// <summary>How far after the time of receipt an event timestamp may lie. Contract: 5 minutes.</summary>
    public TimeSpan MaxFutureSkew { get; set; } = TimeSpan.FromMinutes(5);

    public int MaxSourceBytes { get; set; } = Names.MaxSourceBytes;

    public int MaxMetricLength { get; set; } = Names.MaxMetricLength;

    public int MaxIdLength { get; set; } = Names.MaxIdLength;

    public int MaxValuesPerEvent { get; set; } = 64;

    /// <summary>How many per-event errors a result lists; all rejected events are still counted.</summary>
    public int MaxErrorsListed { get; set; } = 100;

    /// <summary>
    /// Options for reading back events that were already accepted once (the durable log, replay),
    /// derived from the ingest options. Such events must never be refused on re-reading: an id made
    /// from a <c>values</c> entry (<c>id#metric</c>) may be longer than an input id, and a
    /// timestamp that was within the skew at ingest may look "in the future" if the clock stepped
    /// back since, so both limits are widened.
    /// </summary>
    public static EventValidationOptions ForStoredEvents(EventValidationOptions? ingest = null)
    {
        ingest ??= new EventValidationOptions();
        return new EventValidationOptions
        {
            MaxFutureSkew = TimeSpan.MaxValue,
            MaxSourceBytes = ingest.MaxSourceBytes,
            MaxMetricLength = ingest.MaxMetricLength,
            MaxIdLength = checked(ingest.MaxIdLength + 1 + ingest.MaxMetricLength),
            MaxValuesPerEvent = ingest.MaxValuesPerEvent,
            MaxErrorsListed = ingest.MaxErrorsListed,
        };
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for a setting that makes no sense.</summary>
    public void Validate()
    {
        if (MaxFutureSkew < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFutureSkew), MaxFutureSkew,
                "MaxFutureSkew must not be negative: a negative skew would reject events stamped with the time of receipt.");
        }

        RequireAtLeast(MaxSourceBytes, 1, nameof(MaxSourceBytes));
        RequireAtLeast(MaxMetricLength, 1, nameof(MaxMetricLength));
        RequireAtLeast(MaxIdLength, 1, nameof(MaxIdLength));
        RequireAtLeast(MaxValuesPerEvent, 1, nameof(MaxValuesPerEvent));
        RequireAtLeast(MaxErrorsListed, 0, nameof(MaxErrorsListed));
    }

    private static void RequireAtLeast(int value, int min, string name)
    {
        if (value < min)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least {min}.");
        }
    }
}
