using System.Reflection;
using System.Security.Cryptography;
using Analytics.Silo.Api;

namespace Analytics.Silo.Dashboard;

/// <summary>
/// The dashboard's files, embedded in the silo's assembly (Silo.csproj embeds
/// <c>Dashboard/assets/</c> as <c>dashboard/...</c>). Embedding keeps the silo one self-contained
/// build output: nothing to copy beside it, no content root to get wrong in a container, and no
/// build step for a user. Files are revalidated by ETag on every load, so a new silo version is
/// picked up at once while an unchanged file costs a 304.
/// </summary>
internal sealed class DashboardAssets
{
    public const string Page = "index.html";
    private const string ResourcePrefix = "dashboard/";

    // Everything the page loads must come from this silo (no CDN): the policy makes the browser
    // refuse anything else, so a stray external reference fails loudly in the browser tests.
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".txt"] = "text/plain; charset=utf-8",
    };

    private readonly Dictionary<string, Asset> _assets;

    private DashboardAssets(Dictionary<string, Asset> assets) => _assets = assets;

    public static DashboardAssets Load()
    {
        var assembly = typeof(DashboardAssets).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var path = name[ResourcePrefix.Length..].Replace('\\', '/');
            if (!ContentTypes.TryGetValue(Path.GetExtension(path), out var contentType))
            {
                continue;
            }

            var content = Read(assembly, name);
            assets[path] = new Asset(content, contentType, $"\"{Convert.ToHexStringLower(SHA256.HashData(content).AsSpan(0, 12))}\"");
        }

        return assets.ContainsKey(Page) ? new DashboardAssets(assets) : throw new InvalidOperationException($"The dashboard page {ResourcePrefix}{Page} is not embedded in {assembly.GetName().Name}.");
    }

    public IResult Serve(HttpContext context, string path)
    {
        if (!_assets.TryGetValue(path, out var asset))
        {
            return ApiError.NotFound($"The dashboard has no file '{path}'.");
        }

        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        if (path == Page)
        {
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
        }

        return context.Request.Headers.IfNoneMatch == asset.ETag
            ? Results.StatusCode(StatusCodes.Status304NotModified)
            : Results.Bytes(asset.Content, asset.ContentType);
    }

    private static byte[] Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private sealed record Asset(byte[] Content, string ContentType, string ETag);
}
