namespace Analytics.Grains;

/// <summary>Names shared by producers, the silo and the grains.</summary>
public static class AnalyticsStreams
{
    /// <summary>The stream provider that carries events (the local log, or Kinesis in AWS mode).</summary>
    public const string Provider = "events";

    /// <summary>The stream namespace of events; the stream key is the event's source.</summary>
    public const string Namespace = "events";

    /// <summary>
    /// The Orleans stream namespace on which a queue's receiver publishes each metric's share of a
    /// page (after the source grains dropped duplicates); the key is the metric, the subscriber its grain.
    /// </summary>
    public const string MetricNamespace = "metrics";

    /// <summary>The grain storage provider of the analytics grains.</summary>
    public const string Storage = "analytics";
}
