namespace Analytics.Grains;

/// <summary>Aggregates over a window [FromMs, ToMs) aligned to the buckets that served it.</summary>
[GenerateSerializer, Immutable]
public sealed record MetricStats(
    long FromMs,
    long ToMs,
    long Count,
    double Sum,
    double? Min,
    double? Max,
    double? Mean,
    double? P50,
    double? P90,
    double? P95,
    double? P99,
    long DistinctSources,
    long Late);

/// <summary>One step of a series; Count is 0 and the rest null for an empty step.</summary>
[GenerateSerializer, Immutable]
public sealed record SeriesPoint(long T, long Count, double Sum, double? Min, double? Max, double? Mean, double? P50, double? P99);

[GenerateSerializer, Immutable]
public sealed record SeriesResult(long StepMs, IReadOnlyList<SeriesPoint> Points);

[GenerateSerializer, Immutable]
public sealed record TopItem(string Source, long Count, double Max, double Mean);

[GenerateSerializer, Immutable]
public sealed record TopResult(long FromMs, long ToMs, IReadOnlyList<TopItem> Items);

[GenerateSerializer, Immutable]
public sealed record SourceMetricSummary(double Last, long LastTimestamp, long Count, double? Min, double? Max, double? Mean);

[GenerateSerializer, Immutable]
public sealed record SourceSummary(long FirstSeen, long LastSeen, IReadOnlyDictionary<string, SourceMetricSummary> Metrics);
