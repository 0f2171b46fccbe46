using System.Text;
using Analytics.Events;

namespace Analytics.Tests.Events;

/// <summary>Shared helpers: parse text and assert the outcome of one event.</summary>
internal static class EventTestKit
{
    /// <summary>The fixed "time of receipt" every test parses at: 2026-11-21T10:00:00Z.</summary>
    public const long Now = 1_795_255_200_000;

    public static readonly EventValidationOptions Options = new();

    public static EventParseResult Body(string text, bool ndjson = false, long now = Now, EventValidationOptions? options = null) =>
        EventParser.ParseBody(Encoding.UTF8.GetBytes(text), ndjson, now, options ?? Options);

    public static EventParseResult Record(string text, long now = Now) =>
        EventParser.ParseRecord(Encoding.UTF8.GetBytes(text), now, Options);

    /// <summary>Parses <paramref name="eventJson"/> as a batch of one and asserts it was accepted.</summary>
    public static IReadOnlyList<AnalyticsEvent> Accept(string eventJson, long now = Now, EventValidationOptions? options = null)
    {
        EventParseResult result = Body($"[{eventJson}]", now: now, options: options);
        Assert.Null(result.FatalError);
        Assert.True(result.Rejected == 0, result.Errors.Count > 0 ? result.Errors[0].Error : "rejected");
        Assert.Equal(1, result.AcceptedElements);
        return result.Accepted;
    }

    public static AnalyticsEvent AcceptOne(string eventJson, long now = Now, EventValidationOptions? options = null) =>
        Assert.Single(Accept(eventJson, now, options));

    /// <summary>Parses <paramref name="eventJson"/> as a batch of one and returns its error.</summary>
    public static string Reject(string eventJson, long now = Now, EventValidationOptions? options = null)
    {
        EventParseResult result = Body($"[{eventJson}]", now: now, options: options);
        Assert.Null(result.FatalError);
        Assert.Empty(result.Accepted);
        Assert.Equal(1, result.Rejected);
        EventError error = Assert.Single(result.Errors);
        Assert.Equal(0, error.Index);
        return error.Error;
    }

    /// <summary>An event with the given extra JSON members after a valid source.</summary>
    public static string Ev(string members) => $"{{\"source\":\"dev-42\",{members}}}";
}
