using System.Numerics;
using System.Text.Json;

namespace Analytics.Events;

public static partial class EventParser
{
    /// <summary>One event's fields, held until the whole object is read and found valid.</summary>
    private struct Draft
    {
        public string? Source;
        public string? Metric;
        public string? Id;
        public double Value;
        public long Timestamp;
        public bool HasValue;
        public bool HasValues; // the entries themselves are in Batch._readings
    }

    private enum Field : byte { Unknown, Source, Metric, Value, Values, Timestamp, Id }

    /// <summary>State of one parse call: results so far, plus buffers reused from event to event.</summary>
    private sealed partial class Batch
    {
        private readonly EventValidationOptions _options;
        private readonly long _nowMs;
        private readonly long _maxTimestamp;
        private readonly List<AnalyticsEvent> _accepted;
        private readonly List<(string Metric, double Value)> _readings = [];
        private readonly StringCache _sources;
        private readonly StringCache _metrics;
        private List<EventError>? _errors;
        private byte[]? _scratch;
        private int _acceptedElements;
        private int _rejected;

        public Batch(long nowMs, EventValidationOptions options, int inputBytes)
        {
            _options = options;
            _nowMs = nowMs;
            long skewMs = options.MaxFutureSkew.Ticks / TimeSpan.TicksPerMillisecond;
            _maxTimestamp = nowMs > long.MaxValue - skewMs ? long.MaxValue : nowMs + skewMs;

            // A minimal event is about 50 bytes; guessing from the input size saves list regrowth.
            int expected = Math.Clamp(inputBytes / 64, 1, 1 << 16);
            _accepted = new List<AnalyticsEvent>(expected);

            // Sources are many (devices), metrics few; small batches get small caches so a
            // one-event Kinesis record does not pay for a table it cannot fill.
            int cacheSize = (int)Math.Clamp(BitOperations.RoundUpToPowerOf2((uint)expected / 4), 4, 1024);
            _sources = new StringCache(cacheSize);
            _metrics = new StringCache(Math.Min(cacheSize, 128));
        }

        public void Reject(int index, string error)
        {
            _rejected++;
            if ((_errors?.Count ?? 0) < _options.MaxErrorsListed)
            {
                (_errors ??= []).Add(new EventError(index, error));
            }
        }

        public void Finish(int index, string? error, in Draft draft)
        {
            if (error is not null)
            {
                Reject(index, error);
                return;
            }

            _acceptedElements++;
            if (!draft.HasValues)
            {
                _accepted.Add(new AnalyticsEvent(draft.Source!, draft.Metric!, draft.Value, draft.Timestamp, draft.Id));
                return;
            }

            foreach ((string metric, double value) in _readings)
            {
                string? id = draft.Id is null ? null : string.Concat(draft.Id, "#", metric);
                _accepted.Add(new AnalyticsEvent(draft.Source!, metric, value, draft.Timestamp, id));
            }
        }

        public EventParseResult ToResult() =>
            new(_accepted, _acceptedElements, _rejected, _errors ?? (IReadOnlyList<EventError>)[]);

        /// <summary>
        /// Reads one event object. The reader starts on its <c>{</c> and ends on its <c>}</c>, even
        /// when the event is invalid, so the caller can go on with the next element. Returns the
        /// first problem found, or null. Throws <see cref="JsonException"/> for malformed JSON.
        /// </summary>
        public string? ReadEvent(ref Utf8JsonReader reader, out Draft draft)
        {
            draft = new Draft { Timestamp = _nowMs };
            _readings.Clear();
            string? error = null;
            int seen = 0;

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                Field field = Identify(ref reader);
                reader.Read();
                if (error is not null)
                {
                    reader.Skip(); // keep reading to the end of the object, but report only the first problem
                    continue;
                }

                if (field != Field.Unknown)
                {
                    int bit = 1 << (int)field;
                    if ((seen & bit) != 0)
                    {
                        // Which copy would win is up to each JSON library, so neither is guessed.
                        error = $"{FieldName(field)} appears more than once";
                        reader.Skip();
                        continue;
                    }

                    seen |= bit;
                }

                error = field switch
                {
                    Field.Source => ReadName(ref reader, isSource: true, out draft.Source),
                    Field.Metric => ReadName(ref reader, isSource: false, out draft.Metric),
                    Field.Value => ReadNumber(ref reader, "value", null, out draft.Value),
                    Field.Values => ReadValues(ref reader, out draft.HasValues),
                    Field.Timestamp => ReadTimestamp(ref reader, ref draft.Timestamp),
                    Field.Id => ReadId(ref reader, out draft.Id),
                    _ => SkipUnknown(ref reader),
                };
                draft.HasValue |= field == Field.Value && error is null;
            }

            return error ?? CheckShape(in draft);
        }

        private static string? CheckShape(in Draft d)
        {
            if (d.Source is null)
            {
                return "source is required";
            }

            if (d.HasValues)
            {
                return d.Metric is not null
                    ? "metric and values cannot both be given; send either metric with value, or values"
                    : d.HasValue
                        ? "value cannot be combined with values; put each reading inside values"
                        : null;
            }

            return (d.Metric, d.HasValue) switch
            {
                (null, false) => "metric and value are required (or values, an object of metric names to numbers)",
                (null, true) => "metric is required with value",
                (_, false) => "value is required with metric",
                _ => null,
            };
        }

        private static string? SkipUnknown(ref Utf8JsonReader reader)
        {
            reader.Skip();
            return null;
        }
    }
}
