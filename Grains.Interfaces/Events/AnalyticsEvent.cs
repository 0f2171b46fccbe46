namespace Analytics.Events;

/// <summary>
/// One reading: a value of one metric from one source at one instant. An input event that uses
/// <c>values</c> becomes one of these per entry, so everything downstream of the parser deals with
/// a single shape.
/// </summary>
/// <param name="Source">The device, user or host that emitted the event (validated by <see cref="Names"/>).</param>
/// <param name="Metric">The metric name (validated by <see cref="Names"/>).</param>
/// <param name="Value">A finite number.</param>
/// <param name="Timestamp">Event time in Unix epoch milliseconds, UTC.</param>
/// <param name="Id">
/// The client's id, for deduplication together with <paramref name="Source"/>. For an entry of a
/// <c>values</c> event it is the input id with <c>#metric</c> appended.
/// </param>
[GenerateSerializer, Immutable, Alias("Analytics.AnalyticsEvent")]
public readonly record struct AnalyticsEvent(
    string Source,
    string Metric,
    double Value,
    long Timestamp,
    string? Id = null);
