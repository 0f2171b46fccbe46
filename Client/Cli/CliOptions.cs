using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Analytics.Events;

namespace Analytics.Client.Cli;

/// <summary>A point in time given on the command line: absolute, or a duration before now.</summary>
internal readonly record struct TimeSpec(long? EpochMs, TimeSpan Ago)
{
    public DateTimeOffset Resolve(DateTimeOffset now) =>
        EpochMs is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : now - Ago;
}

/// <summary>The options and arguments the commands share, with their parsing and checks.</summary>
internal static class CliOptions
{
    public const string DefaultUrl = "http://localhost:5080";
    public const string UrlVariable = "ANALYTICS_URL";

    /// <summary>The silo URL: <c>--url</c>, else <c>ANALYTICS_URL</c>, else the default.</summary>
    public static Option<Uri> Url(CliEnvironment env) => new("--url")
    {
        Description = $"The silo's HTTP API. Defaults to ${UrlVariable}, else {DefaultUrl}.",
        HelpName = "url",
        Recursive = true,
        DefaultValueFactory = result =>
        {
            string? fromEnv = env.GetEnvironmentVariable(UrlVariable);
            string text = string.IsNullOrWhiteSpace(fromEnv) ? DefaultUrl : fromEnv.Trim();
            return ParseUrl(result, text, string.IsNullOrWhiteSpace(fromEnv) ? "--url" : UrlVariable);
        },
        CustomParser = result => ParseUrl(result, result.Tokens[^1].Value, "--url"),
    };

    private static Uri ParseUrl(ArgumentResult result, string text, string what)
    {
        // "localhost:5080" is read by Uri as scheme "localhost"; a bare host:port means http.
        string candidate = text.Contains("://", StringComparison.Ordinal) ? text : "http://" + text;
        if (Uri.TryCreate(candidate, UriKind.Absolute, out Uri? uri)
            && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
            && !string.IsNullOrEmpty(uri.Host))
        {
            return uri;
        }

        result.AddError($"{what}: '{text}' is not an http or https URL, such as {DefaultUrl}");
        return new Uri(DefaultUrl);
    }

    /// <summary>A contract duration option (<c>30s</c>, <c>5m</c>, <c>1h</c>, <c>7d</c>), checked with <see cref="DurationParser"/>.</summary>
    public static Option<TimeSpan?> Duration(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "duration",
        CustomParser = result =>
        {
            string text = result.Tokens[^1].Value;
            if (DurationParser.TryParse(text, out TimeSpan value, out string error))
            {
                return value;
            }

            result.AddError($"{name}: {error}");
            return null;
        },
    };

    /// <summary>
    /// A time option: ISO-8601 with an offset or Z, Unix epoch milliseconds, <c>now</c>, or a
    /// duration meaning that long ago (<c>15m</c> or <c>-15m</c>).
    /// </summary>
    public static Option<TimeSpec?> Time(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "time",
        CustomParser = result =>
        {
            string text = result.Tokens[^1].Value.Trim();
            if (text.Equals("now", StringComparison.OrdinalIgnoreCase))
            {
                return new TimeSpec(null, TimeSpan.Zero);
            }

            if (TimestampParser.TryParse(text, out long epochMs, out string timestampError))
            {
                return new TimeSpec(epochMs, TimeSpan.Zero);
            }

            string durationText = text.StartsWith('-') ? text[1..] : text;
            if (DurationParser.TryParse(durationText, out TimeSpan ago, out _))
            {
                return new TimeSpec(null, ago);
            }

            // A text that starts like a date gets the timestamp parser's own, precise message.
            bool looksLikeDate = text.Length >= 5 && text[..4].All(char.IsAsciiDigit) && text[4] == '-';
            result.AddError(looksLikeDate
                ? $"{name}: {timestampError}"
                : $"{name}: '{text}' is not a time; use ISO-8601 with an offset or Z (2026-11-21T10:00:00Z), Unix epoch milliseconds, 'now', or a duration meaning that long ago (15m, 2h)");
            return null;
        },
    };

    public static Argument<string> Metric(string description = "The metric name, such as temperature.")
    {
        var argument = new Argument<string>("metric") { Description = description };
        argument.Validators.Add(result =>
        {
            if (Names.ValidateMetric(result.GetValueOrDefault<string>()) is { } error)
            {
                result.AddError(error);
            }
        });
        return argument;
    }

    public static Option<string> MetricOption(string description)
    {
        var option = new Option<string>("--metric") { Description = description, HelpName = "metric", Required = true };
        option.Validators.Add(result =>
        {
            if (Names.ValidateMetric(result.GetValueOrDefault<string>()) is { } error)
            {
                result.AddError($"--metric: {error}");
            }
        });
        return option;
    }

    public static Argument<string> Source()
    {
        var argument = new Argument<string>("source") { Description = "The source (device, user or host), such as dev-42." };
        argument.Validators.Add(result =>
        {
            if (Names.ValidateSource(result.GetValueOrDefault<string>()) is { } error)
            {
                result.AddError(error);
            }
        });
        return argument;
    }

    public static Option<bool> Json() => new("--json")
    {
        Description = "Print the server's JSON answer as it is, instead of a table.",
        Recursive = true,
    };

    public static Option<bool> NoProgress() => new("--no-progress")
    {
        Description = "Do not draw the progress bar (it is drawn only when standard error is a terminal).",
    };

    /// <summary>Restricts a text option to <paramref name="choices"/>, with a message that names the option.</summary>
    public static Option<T> OneOf<T>(this Option<T> option, params string[] choices)
    {
        option.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<T>()?.ToString();
            if (value is not null && !choices.Contains(value, StringComparer.Ordinal))
            {
                string list = choices.Length == 1 ? choices[0] : string.Join(", ", choices[..^1]) + " or " + choices[^1];
                result.AddError($"{option.Name} must be {list}, not '{value}'");
            }
        });
        option.CompletionSources.Add(choices);
        return option;
    }

    /// <summary>Adds a range check to an integer option.</summary>
    public static Option<T> InRange<T>(this Option<T> option, T min, T max)
        where T : struct, IComparable<T>
    {
        option.Validators.Add(result =>
        {
            T value = result.GetValueOrDefault<T>();
            if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option.Name} must be from {min} to {max}, not {value}"));
            }
        });
        return option;
    }
}
