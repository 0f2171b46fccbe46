namespace Analytics.Events;

/// <summary>Why one input element was rejected.</summary>
/// <param name="Index">
/// 0-based position of the input element: its array index, or its line number counting only
/// non-blank NDJSON lines.
/// </param>
/// <param name="Error">A message a person can act on, naming the field and the limit.</param>
public readonly record struct EventError(int Index, string Error);

/// <summary>The outcome of parsing one HTTP body or one Kinesis record.</summary>
public sealed class EventParseResult
{
    private static readonly IReadOnlyList<AnalyticsEvent> NoEvents = [];
    private static readonly IReadOnlyList<EventError> NoErrors = [];

    internal EventParseResult(
        IReadOnlyList<AnalyticsEvent> accepted, int acceptedElements, int rejected, IReadOnlyList<EventError> errors)
    {
        Accepted = accepted;
        AcceptedElements = acceptedElements;
        Rejected = rejected;
        Errors = errors;
    }

    private EventParseResult(string fatalError)
    {
        Accepted = NoEvents;
        Errors = NoErrors;
        FatalError = fatalError;
    }

    /// <summary>
    /// The accepted readings, in input order, with <c>values</c> events already expanded (so this
    /// can be longer than <see cref="AcceptedElements"/>).
    /// </summary>
    public IReadOnlyList<AnalyticsEvent> Accepted { get; }

    /// <summary>How many input elements were accepted, before <c>values</c> expansion.</summary>
    public int AcceptedElements { get; }

    /// <summary>How many input elements were rejected; counts all, even beyond the listed errors.</summary>
    public int Rejected { get; }

    /// <summary>The first rejected elements' errors, at most <see cref="EventValidationOptions.MaxErrorsListed"/>.</summary>
    public IReadOnlyList<EventError> Errors { get; }

    /// <summary>
    /// Set when the input could not be read at all (malformed JSON body, not an array, empty).
    /// The HTTP layer answers 400 with this message; nothing else in the result is meaningful.
    /// </summary>
    public string? FatalError { get; }

    public bool IsFatal => FatalError is not null;

    public static EventParseResult Fatal(string message) => new(message);
}
