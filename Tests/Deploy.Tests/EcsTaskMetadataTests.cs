using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Analytics.Silo.Hosting;
using Analytics.Testing.Ecs;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Analytics.Deploy.Tests;

/// <summary>
/// How a silo on ECS learns its own task address and zone: from the task metadata endpoint, served
/// here by a fake on 127.0.0.1. A broken endpoint must stop the start-up with a message, not let the
/// silo advertise 127.0.0.1 to the cluster.
/// </summary>
public sealed class EcsTaskMetadataTests
{
    [Fact]
    public async Task The_task_address_and_zone_are_read_from_the_task_metadata()
    {
        await using var endpoint = await FakeEcsMetadataEndpoint.StartAsync("10.40.17.23", "eu-west-1b");

        var metadata = EcsTaskMetadata.ReadIfNeeded(Configuration(endpoint.Uri.ToString()));

        Assert.Equal(new EcsTaskMetadata("10.40.17.23", "eu-west-1b"), metadata);
        Assert.Equal([endpoint.Uri.AbsolutePath + "/task"], endpoint.Paths);
    }

    [Fact]
    public async Task Nothing_is_asked_when_the_address_and_zone_are_configured_or_the_silo_is_not_on_ECS()
    {
        await using var endpoint = await FakeEcsMetadataEndpoint.StartAsync("10.40.17.23", "eu-west-1b");

        Assert.Null(EcsTaskMetadata.ReadIfNeeded(Configuration(endpoint.Uri.ToString(), ("Silo:AdvertisedHost", "10.0.0.5"), ("Silo:Zone", "az-1"))));
        Assert.Null(EcsTaskMetadata.ReadIfNeeded(Configuration(null)));
        Assert.Equal(0, endpoint.Requests);

        // One of the two explicit: the other still comes from the endpoint (the setup keeps the explicit one).
        Assert.NotNull(EcsTaskMetadata.ReadIfNeeded(Configuration(endpoint.Uri.ToString(), ("Silo:AdvertisedHost", "10.0.0.5"))));
        Assert.Equal(1, endpoint.Requests);
    }

    [Fact]
    public async Task A_task_without_a_zone_in_its_metadata_still_gets_its_address()
    {
        await using var endpoint = await FakeEcsMetadataEndpoint.StartAsync(context =>
            context.Response.WriteAsync("""{"Containers":[{"Name":"silo","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.1.2.3"]}]}]}"""));

        Assert.Equal(new EcsTaskMetadata("10.1.2.3", null), EcsTaskMetadata.ReadIfNeeded(Configuration(endpoint.Uri.ToString())));
    }

    public static TheoryData<string, int, string> BrokenAnswers => new()
    {
        { "not json at all", 200, "the task metadata is not JSON" },
        { """{"AvailabilityZone":"eu-west-1a","Containers":[{"Name":"silo","Networks":[]}]}""", 200, "lists no IPv4 address" },
        { """{"Containers":[{"Networks":[{"IPv4Addresses":["fe80::1"]}]}]}""", 200, "is not an IPv4 address" },
        { """["a list"]""", 200, "not a JSON object" },
        { "{}", 500, "answered 500" },
    };

    [Theory]
    [MemberData(nameof(BrokenAnswers))]
    public async Task A_broken_answer_stops_the_start_up_with_a_message_naming_the_endpoint_and_the_keys(string body, int status, string reason)
    {
        await using var endpoint = await FakeEcsMetadataEndpoint.StartAsync(async context =>
        {
            context.Response.StatusCode = status;
            await context.Response.WriteAsync(body);
        });

        var error = Assert.Throws<OptionsValidationException>(() => EcsTaskMetadata.ReadIfNeeded(Configuration(endpoint.Uri.ToString())));

        var message = Assert.Single(error.Failures);
        Assert.Contains(reason, message, StringComparison.Ordinal);
        Assert.Contains($"ECS_CONTAINER_METADATA_URI_V4={endpoint.Uri}", message, StringComparison.Ordinal);
        Assert.Contains("Set Silo:AdvertisedHost and Silo:Zone", message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_endpoint_that_does_not_listen_stops_the_start_up_within_seconds()
    {
        var clock = Stopwatch.StartNew();

        var error = Assert.Throws<OptionsValidationException>(() => EcsTaskMetadata.ReadIfNeeded(Configuration($"http://127.0.0.1:{ClosedPort()}/v4/abc")));

        Assert.Contains("Connection refused", Assert.Single(error.Failures), StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task An_endpoint_that_never_answers_stops_the_start_up_after_three_short_attempts()
    {
        using var release = new CancellationTokenSource();
        await using var endpoint = await FakeEcsMetadataEndpoint.StartAsync(context => Task.Delay(Timeout.Infinite, release.Token).ContinueWith(_ => { }, TaskScheduler.Default));
        var clock = Stopwatch.StartNew();

        var error = Assert.Throws<OptionsValidationException>(() => EcsTaskMetadata.ReadIfNeeded(Configuration(endpoint.Uri.ToString())));

        release.Cancel();
        Assert.Contains("Timeout", Assert.Single(error.Failures), StringComparison.Ordinal);
        Assert.Equal(3, endpoint.Requests);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(12));
    }

    [Fact]
    public void A_malformed_endpoint_variable_is_reported_too()
    {
        var error = Assert.Throws<OptionsValidationException>(() => EcsTaskMetadata.ReadIfNeeded(Configuration("not a uri")));
        Assert.Contains("ECS_CONTAINER_METADATA_URI_V4=not a uri", Assert.Single(error.Failures), StringComparison.Ordinal);
    }

    /// <summary>The configuration as the silo sees it: environment variables are part of it.</summary>
    private static IConfiguration Configuration(string? endpoint, params (string Key, string Value)[] settings)
    {
        var values = settings.ToDictionary(s => s.Key, s => (string?)s.Value);
        if (endpoint is not null)
        {
            values[EcsTaskMetadata.EndpointVariable] = endpoint;
        }

        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
