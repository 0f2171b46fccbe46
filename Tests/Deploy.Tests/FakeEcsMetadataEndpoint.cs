using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Analytics.Testing.Ecs;

/// <summary>
/// A stand-in for the ECS task metadata endpoint (v4): Kestrel on 127.0.0.1 and a free port,
/// answering <c>GET {Uri}/task</c> as ECS does, or as told to. Shared by Deploy.Tests (the reader)
/// and EndToEnd.Tests (a silo process started with <c>ECS_CONTAINER_METADATA_URI_V4</c>).
/// </summary>
public sealed class FakeEcsMetadataEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private FakeEcsMetadataEndpoint(WebApplication app, Uri uri)
    {
        _app = app;
        Uri = uri;
    }

    /// <summary>The value ECS would put into ECS_CONTAINER_METADATA_URI_V4.</summary>
    public Uri Uri { get; }

    public int Requests => Volatile.Read(ref _requests);

    public List<string> Paths { get; } = [];

    /// <summary>A Fargate task's metadata, reduced to what matters here plus a few fields around it.</summary>
    public static string TaskMetadata(string address, string zone) => $$"""
        {
          "Cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/analytics-prod",
          "TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/analytics-prod/5d1f0c2a9b7e4e61a3c8f00d1e2b3c4d",
          "Family": "analytics-prod-silo",
          "Revision": "7",
          "DesiredStatus": "RUNNING",
          "KnownStatus": "RUNNING",
          "Limits": { "CPU": 1, "Memory": 2048 },
          "AvailabilityZone": "{{zone}}",
          "LaunchType": "FARGATE",
          "Containers": [
            {
              "DockerId": "5d1f0c2a9b7e4e61a3c8f00d1e2b3c4d-1234567890",
              "Name": "silo",
              "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/analytics-silo:1.4.2",
              "Networks": [
                {
                  "NetworkMode": "awsvpc",
                  "IPv4Addresses": ["{{address}}"],
                  "AttachmentIndex": 0,
                  "IPv4SubnetCIDRBlock": "10.40.16.0/20",
                  "PrivateDNSName": "ip-{{address.Replace('.', '-')}}.eu-west-1.compute.internal"
                }
              ]
            }
          ]
        }
        """;

    public static Task<FakeEcsMetadataEndpoint> StartAsync(string address, string zone) =>
        StartAsync(async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(TaskMetadata(address, zone));
        });

    /// <param name="handler">Answers every request (a broken endpoint, say).</param>
    public static async Task<FakeEcsMetadataEndpoint> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        FakeEcsMetadataEndpoint? endpoint = null;
        app.Run(context =>
        {
            Interlocked.Increment(ref endpoint!._requests);
            lock (endpoint.Paths)
            {
                endpoint.Paths.Add(context.Request.Path);
            }

            return handler(context);
        });
        await app.StartAsync();
        endpoint = new FakeEcsMetadataEndpoint(app, new Uri(app.Urls.Single().TrimEnd('/') + "/v4/5d1f0c2a9b7e4e61a3c8f00d1e2b3c4d-1234567890"));
        return endpoint;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
