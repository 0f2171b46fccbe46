using System.Text.Json.Nodes;
using Analytics.Aws.Tests;
using Analytics.Testing.Ecs;
using Microsoft.AspNetCore.Http;

namespace Analytics.EndToEnd.Tests;

/// <summary>
/// A silo process as ECS starts it, with ECS_CONTAINER_METADATA_URI_V4 pointing at a fake metadata
/// endpoint: it advertises the task's address and zone from there, and a broken endpoint stops it
/// with a one-line message and exit code 2.
/// </summary>
/// <remarks>In the emulators' collection although it needs none of them: that keeps its silo processes
/// from running beside the cluster fail-over test, which leans on the emulators answering in time.</remarks>
[Collection(EmulatorCollection.Name)]
public sealed class EcsMetadataSiloTests(EmulatorHost emulators) : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "e2e-ecs-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task The_silo_advertises_its_task_address_and_zone_from_the_metadata_endpoint()
    {
        await using var endpoint = await FakeEcsMetadataEndpoint.StartAsync("10.40.17.23", "eu-west-1b");
        // AWS mode, as on ECS: the advertised address goes into the membership table (listening on loopback).
        await using var silo = await (await AwsAsync()).StartAsync(Environment(endpoint));

        var cluster = JsonNode.Parse(await silo.Http.GetStringAsync("/api/cluster"))!;

        Assert.StartsWith("10.40.17.23:", (string?)cluster["self"], StringComparison.Ordinal);
        var self = cluster["silos"]!.AsArray().Single(s => (bool)s!["isSelf"]!)!;
        Assert.Equal("eu-west-1b", (string?)self["zone"]);
        Assert.Equal([endpoint.Uri.AbsolutePath + "/task"], endpoint.Paths);
    }

    [Fact]
    public async Task An_explicit_setting_wins_over_the_metadata_endpoint()
    {
        await using var endpoint = await FakeEcsMetadataEndpoint.StartAsync("10.40.17.23", "eu-west-1b");
        await using var silo = await (await AwsAsync()).StartAsync(Environment(endpoint), "--Silo:Zone=rack-7");

        var cluster = JsonNode.Parse(await silo.Http.GetStringAsync("/api/cluster"))!;

        Assert.StartsWith("10.40.17.23:", (string?)cluster["self"], StringComparison.Ordinal);
        Assert.Equal("rack-7", (string?)cluster["silos"]!.AsArray().Single(s => (bool)s!["isSelf"]!)!["zone"]);
    }

    [Fact]
    public async Task A_broken_metadata_endpoint_stops_the_silo_with_a_message_and_exit_code_2()
    {
        await using var endpoint = await FakeEcsMetadataEndpoint.StartAsync(context =>
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return Task.CompletedTask;
        });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SiloProcess.StartAsync(_data, Environment(endpoint), []));

        Assert.Contains("exited with code 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("error: invalid configuration: Silo:AdvertisedHost or Silo:Zone is not set, and the ECS task metadata endpoint", error.Message, StringComparison.Ordinal);
        Assert.Contains("answered 500", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.Message, StringComparison.Ordinal);
    }

    private async Task<AwsSilo> AwsAsync()
    {
        using var kinesis = emulators.CreateKinesisClient();
        return await AwsSilo.CreateAsync(emulators, kinesis, shards: 1);
    }

    private static Dictionary<string, string> Environment(FakeEcsMetadataEndpoint endpoint) => new()
    {
        ["ECS_CONTAINER_METADATA_URI_V4"] = endpoint.Uri.ToString(),
    };
}
