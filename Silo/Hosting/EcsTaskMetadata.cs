using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Orleans.Configuration;
using Microsoft.Extensions.Options;

namespace Analytics.Silo.Hosting;

/// <summary>
/// What a silo on ECS learns about its own task from the task metadata endpoint (v4): the task's
/// private IPv4 address, which other silos and clients must use to reach it, and its availability
/// zone. On Fargate every task gets its own address at start, so it cannot be written into the
/// configuration beforehand.
/// </summary>
public sealed record EcsTaskMetadata(string PrivateIPv4Address, string? AvailabilityZone)
{
    /// <summary>The variable ECS sets in every container of a task (platform 1.4 and later on Fargate).</summary>
    public const string EndpointVariable = "ECS_CONTAINER_METADATA_URI_V4";

    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(2);
    private const int Attempts = 3;

    /// <summary>
    /// The task's metadata when the silo runs on ECS (<see cref="EndpointVariable"/> is set, as
    /// environment variables are part of the configuration) and <c>Silo:AdvertisedHost</c> or
    /// <c>Silo:Zone</c> is not set explicitly; null otherwise, so nothing changes off ECS.
    /// </summary>
    /// <exception cref="OptionsValidationException">The endpoint cannot be reached or answers something unusable: the silo must not start advertising an address nobody can reach.</exception>
    public static EcsTaskMetadata? ReadIfNeeded(IConfiguration configuration)
    {
        if (configuration[EndpointVariable] is not { Length: > 0 } endpoint
            || (!string.IsNullOrEmpty(configuration["Silo:AdvertisedHost"]) && !string.IsNullOrEmpty(configuration["Silo:Zone"])))
        {
            return null;
        }

        try
        {
            var uri = new Uri(endpoint.TrimEnd('/') + "/task", UriKind.Absolute);
            return Parse(Fetch(uri));
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or IOException or FormatException)
        {
            throw new OptionsValidationException("Silo:AdvertisedHost", typeof(SiloOptions), [
                $"Silo:AdvertisedHost or Silo:Zone is not set, and the ECS task metadata endpoint ({EndpointVariable}={endpoint}) could not tell them: {exception.Message} "
                + "Set Silo:AdvertisedHost and Silo:Zone, or run the task with awsvpc networking (as Fargate does)."]);
        }
    }

    /// <summary>
    /// Reads a task metadata document: the first IPv4 address of the task's containers' networks
    /// (in awsvpc mode every container shares the task's one network interface), and the zone.
    /// </summary>
    /// <exception cref="FormatException">Not JSON, or no usable IPv4 address in it.</exception>
    private static EcsTaskMetadata Parse(string json)
    {
        using var document = ParseJson(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the task metadata is not a JSON object.");
        }

        var address = Elements(root, "Containers")
            .SelectMany(container => Elements(container, "Networks"))
            .SelectMany(network => Elements(network, "IPv4Addresses"))
            .Where(a => a.ValueKind == JsonValueKind.String)
            .Select(a => a.GetString())
            .FirstOrDefault(a => !string.IsNullOrEmpty(a))
            ?? throw new FormatException("the task metadata lists no IPv4 address under Containers[].Networks[].IPv4Addresses.");
        if (!IPAddress.TryParse(address, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new FormatException($"the task's address '{address}' is not an IPv4 address.");
        }

        var zone = root.TryGetProperty("AvailabilityZone", out var z) && z.ValueKind == JsonValueKind.String && z.GetString() is { Length: > 0 } name ? name : null;
        return new EcsTaskMetadata(ip.ToString(), zone);
    }

    private static JsonDocument ParseJson(string json)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException exception)
        {
            throw new FormatException($"the task metadata is not JSON ({exception.Message})", exception);
        }
    }

    private static IEnumerable<JsonElement> Elements(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray()
            : [];

    /// <summary>
    /// A synchronous GET: this runs once while the host is being composed, before anything else
    /// runs. The endpoint is local to the task, so a failure is retried briefly, not for long.
    /// </summary>
    private static string Fetch(Uri uri)
    {
        using var client = new HttpClient { Timeout = AttemptTimeout };
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var response = client.Send(new HttpRequestMessage(HttpMethod.Get, uri));
                if (!response.IsSuccessStatusCode)
                {
                    throw new HttpRequestException($"GET {uri} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
                }

                using var reader = new StreamReader(response.Content.ReadAsStream());
                return reader.ReadToEnd();
            }
            catch (Exception exception) when (attempt < Attempts && exception is HttpRequestException or TaskCanceledException or IOException)
            {
                Thread.Sleep(TimeSpan.FromMilliseconds(250 * attempt));
            }
        }
    }
}
