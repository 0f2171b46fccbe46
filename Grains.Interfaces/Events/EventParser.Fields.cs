using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Analytics.Events;

public static partial class EventParser
{
    /// <summary>The readers of each field, one per contract rule.</summary>
    private sealed partial class Batch
    {
        private string? ReadName(ref Utf8JsonReader reader, bool isSource, out string? name)
        {
            name = null;
            string field = isSource ? "source" : "metric";
            if (reader.TokenType != JsonTokenType.String)
            {
                return TypeError(ref reader, field, "a string");
            }

            if (!TryGetUtf8(ref reader, out ReadOnlySpan<byte> utf8))
            {
                return $"{field} contains an invalid \\u escape (an unpaired surrogate)";
            }

            string? error = isSource
                ? Names.ValidateSourceUtf8(utf8, _options.MaxSourceBytes)
                : Names.ValidateMetricUtf8(utf8, _options.MaxMetricLength);
            if (error is null)
            {
                name = (isSource ? _sources : _metrics).Get(utf8);
            }

            return error;
        }

        private string? ReadId(ref Utf8JsonReader reader, out string? id)
        {
            id = null;
            if (reader.TokenType == JsonTokenType.Null)
            {
                return null;
            }

            if (reader.TokenType != JsonTokenType.String)
            {
                return TypeError(ref reader, "id", "a string");
            }

            if (!TryGetUtf8(ref reader, out ReadOnlySpan<byte> utf8))
            {
                return "id contains an invalid \\u escape (an unpaired surrogate)";
            }

            string? error = Names.ValidateIdUtf8(utf8, _options.MaxIdLength);
            if (error is null)
            {
                id = Encoding.UTF8.GetString(utf8); // ids are unique by design, so not worth caching
            }

            return error;
        }

        /// <param name="field">The field, or "values" for an entry of values.</param>
        /// <param name="entry">The entry's metric name, only used to build a message.</param>
        private string? ReadNumber(ref Utf8JsonReader reader, string field, string? entry, out double value)
        {
            value = 0;
            if (reader.TokenType == JsonTokenType.Number)
            {
                // The reader refuses numbers that overflow a double (1e400) rather than giving ±Infinity.
                if (reader.TryGetDouble(out value) && double.IsFinite(value))
                {
                    return null;
                }

                return $"{Label(field, entry)} {Quote(ref reader)} is out of range; it must be a finite number within ±1.7e308";
            }

            string? hint = null;
            if (reader.TokenType == JsonTokenType.String && TryGetUtf8(ref reader, out ReadOnlySpan<byte> text)
                && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed)
                && double.IsFinite(parsed))
            {
                hint = "; send the number without quotes";
            }

            return TypeError(ref reader, Label(field, entry), "a finite JSON number") + hint;
        }

        private string? ReadValues(ref Utf8JsonReader reader, out bool hasValues)
        {
            hasValues = false;
            if (reader.TokenType == JsonTokenType.Null)
            {
                return null;
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return TypeError(ref reader, "values", "an object of metric names to numbers, such as {\"humidity\": 40.5}");
            }

            hasValues = true;
            string? error = null;
            int entries = 0;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                entries++;
                string? metric = null;
                if (error is null && entries <= _options.MaxValuesPerEvent)
                {
                    if (!TryGetUtf8(ref reader, out ReadOnlySpan<byte> name))
                    {
                        error = "a metric name in values contains an invalid \\u escape (an unpaired surrogate)";
                    }
                    else if ((error = Names.ValidateMetricUtf8(name, _options.MaxMetricLength, "values key")) is null)
                    {
                        metric = _metrics.Get(name);
                        foreach ((string other, _) in _readings)
                        {
                            if (string.Equals(other, metric, StringComparison.Ordinal))
                            {
                                error = $"values has the metric {Names.Quote(metric)} more than once";
                                break;
                            }
                        }
                    }
                }

                reader.Read();
                if (metric is null || error is not null)
                {
                    reader.Skip(); // only counting from here on
                    continue;
                }

                error = ReadNumber(ref reader, "values", metric, out double value);
                if (error is null)
                {
                    _readings.Add((metric, value));
                }
            }

            return error ?? entries switch
            {
                0 => "values must have at least one entry",
                _ when entries > _options.MaxValuesPerEvent =>
                    $"values has {entries} entries; the limit is {_options.MaxValuesPerEvent} (split it into several events)",
                _ => null,
            };
        }

        private string? ReadTimestamp(ref Utf8JsonReader reader, ref long timestamp)
        {
            long ms;
            switch (reader.TokenType)
            {
                case JsonTokenType.Null:
                    return null; // counts as absent: the time of receipt stays
                case JsonTokenType.Number:
                    if (!reader.TryGetInt64(out ms))
                    {
                        // Not a plain integer: 1.7e12 is still whole milliseconds, 1.5 is not.
                        if (!reader.TryGetDouble(out double d) || !double.IsFinite(d))
                        {
                            d = reader.ValueSpan[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity;
                        }

                        if (double.IsFinite(d) && d != Math.Floor(d))
                        {
                            return $"timestamp {Quote(ref reader)} is not a whole number of epoch milliseconds";
                        }

                        ms = d < 0 ? -1 : d > TimestampParser.MaxEpochMs ? long.MaxValue : (long)d;
                    }

                    if (TimestampParser.CheckRange(ms, reader.ValueSpan) is string rangeError)
                    {
                        return "timestamp " + rangeError;
                    }

                    break;
                case JsonTokenType.String:
                    if (!TryGetUtf8(ref reader, out ReadOnlySpan<byte> text))
                    {
                        return "timestamp contains an invalid \\u escape (an unpaired surrogate)";
                    }

                    if (TimestampParser.TryParseIso8601(text, out ms) is string isoError)
                    {
                        return "timestamp " + isoError;
                    }

                    break;
                default:
                    return TypeError(ref reader, "timestamp",
                        "an ISO-8601 string with an offset or Z, or a number of epoch milliseconds");
            }

            if (ms > _maxTimestamp)
            {
                return $"timestamp {TimestampParser.Format(ms)} is more than {DurationParser.Describe(_options.MaxFutureSkew)} "
                    + $"in the future (time of receipt {TimestampParser.Format(_nowMs)}); check the sender's clock";
            }

            timestamp = ms;
            return null;
        }

        private Field Identify(ref Utf8JsonReader reader)
        {
            if (!TryGetUtf8(ref reader, out ReadOnlySpan<byte> name))
            {
                return Field.Unknown;
            }

            return name.Length switch
            {
                2 when name.SequenceEqual("id"u8) => Field.Id,
                5 when name.SequenceEqual("value"u8) => Field.Value,
                6 when name.SequenceEqual("source"u8) => Field.Source,
                6 when name.SequenceEqual("metric"u8) => Field.Metric,
                6 when name.SequenceEqual("values"u8) => Field.Values,
                9 when name.SequenceEqual("timestamp"u8) => Field.Timestamp,
                _ => Field.Unknown,
            };
        }

        private static string FieldName(Field field) => field switch
        {
            Field.Source => "source",
            Field.Metric => "metric",
            Field.Value => "value",
            Field.Values => "values",
            Field.Timestamp => "timestamp",
            _ => "id",
        };

        /// <summary>
        /// The current string token as UTF-8 without escapes: the input bytes themselves in the
        /// usual case, or a copy in a buffer reused for the whole batch. False for an escape that
        /// is not valid UTF-16 (an unpaired surrogate).
        /// </summary>
        private bool TryGetUtf8(ref Utf8JsonReader reader, out ReadOnlySpan<byte> utf8)
        {
            if (!reader.ValueIsEscaped)
            {
                utf8 = reader.ValueSpan;
                return true;
            }

            // Unescaping never makes a string longer.
            int needed = reader.ValueSpan.Length;
            if (_scratch is null || _scratch.Length < needed)
            {
                _scratch = new byte[Math.Max(needed, 256)];
            }

            try
            {
                utf8 = _scratch.AsSpan(0, reader.CopyString(_scratch));
                return true;
            }
            catch (InvalidOperationException)
            {
                utf8 = default;
                return false;
            }
        }

        private static string Label(string field, string? entry) => entry is null ? field : $"{field}.{entry}";

        private static string Quote(ref Utf8JsonReader reader) => Names.Quote(reader.ValueSpan);

        private static string TypeError(ref Utf8JsonReader reader, string field, string expected)
        {
            string got = DescribeToken(ref reader);
            reader.Skip(); // an object or array must be stepped over to stay on the event
            return $"{field} must be {expected}, got {got}";
        }

        internal static string DescribeToken(ref Utf8JsonReader reader) => reader.TokenType switch
        {
            JsonTokenType.String => $"the string {Quote(ref reader)}",
            JsonTokenType.Number => $"the number {Quote(ref reader)}",
            JsonTokenType.True => "true",
            JsonTokenType.False => "false",
            JsonTokenType.Null => "null",
            JsonTokenType.StartObject => "an object",
            JsonTokenType.StartArray => "an array",
            _ => reader.TokenType.ToString(),
        };
    }
}
