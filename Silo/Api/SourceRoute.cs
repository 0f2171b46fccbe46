using Microsoft.AspNetCore.Http.Features;

namespace Analytics.Silo.Api;

/// <summary>
/// The source id of an /api/sources/{source} request, exactly as the client percent-encoded it.
/// A source id may hold any contract-valid character, '/' included, so clients send it as one
/// percent-encoded segment; ASP.NET Core's routing leaves "%2F" encoded in a route value while
/// decoding everything else, so the value it binds can neither be used as it is nor be decoded a
/// second time (that would turn a literal "%2F" into '/'). The raw request target has the segment
/// as sent, and decoding it once gives the id.
/// </summary>
internal static class SourceRoute
{
    private const string Prefix = "/api/sources/";

    public static string SourceOf(HttpContext context, string routeValue, string? suffix = null)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw) || !raw.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return routeValue;
        }

        var path = raw.AsSpan(Prefix.Length);
        var query = path.IndexOfAny('?', '#');
        if (query >= 0)
        {
            path = path[..query];
        }

        if (suffix is not null && path.EndsWith(suffix, StringComparison.Ordinal))
        {
            path = path[..^suffix.Length];
        }

        return path.Contains('/') ? routeValue : Uri.UnescapeDataString(path.ToString());
    }
}
