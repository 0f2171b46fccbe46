using Analytics.Aws.DynamoDB;
using Analytics.Aws.Kinesis;
using Analytics.Clustering.DynamoDB;
using Analytics.Events;
using Analytics.Grains;
using Analytics.Grains.Persistence;
using Analytics.Persistence.DynamoDB;
using Analytics.Persistence.Sqlite;
using Analytics.Silo.Api;
using Analytics.Silo.Dashboard;
using Analytics.Silo.Ingest;
using Analytics.Streaming.Kinesis;
using Analytics.Streaming.LocalLog;
using Orleans.Dashboard;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Microsoft.Extensions.Options;

namespace Analytics.Silo.Hosting;

/// <summary>
/// Composes the service from the contract's configuration keys: the silo, its storage and event
/// stream (the embedded local log and SQLite, or AWS), the analytics grains, and the HTTP API.
/// </summary>
public static class AnalyticsSiloSetup
{
    public static WebApplicationBuilder AddAnalyticsSilo(this WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var http = configuration.GetSection(HttpOptions.Section).Get<HttpOptions>() ?? new HttpOptions();
        // Checked now, not at start: Kestrel is configured from these values below, and a mistake
        // should end in Program's one-line message, not in the host's logged stack trace.
        if (new HttpOptionsValidator().Validate(null, http) is { Failed: true } invalid)
        {
            throw new OptionsValidationException(HttpOptions.Section, typeof(HttpOptions), invalid.Failures);
        }

        builder.Services.AddOptions<HttpOptions>().Bind(configuration.GetSection(HttpOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<HttpOptions>, HttpOptionsValidator>();
        builder.WebHost.UseUrls($"http://{http.Address}:{http.Port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = http.MaxBodyBytes * 2);
        builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = http.InlineQueries);
        // ECS waits 30 s after SIGTERM before it kills the task; finish within that, and end the
        // process if a participant overruns (ShutdownWatchdog).
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = configuration.GetValue("Silo:ShutdownTimeout", TimeSpan.FromSeconds(25)));
        builder.Services.AddHostedService<ShutdownWatchdog>();

        // On ECS the task's own address and zone come from its metadata endpoint, unless set explicitly.
        var ecsTask = EcsTaskMetadata.ReadIfNeeded(configuration);
        var zone = configuration["Silo:Zone"] ?? ecsTask?.AvailabilityZone;

        // Kinesis:StreamName chooses the mode: events in Kinesis and state in DynamoDB, or both on local disk.
        var aws = !string.IsNullOrEmpty(configuration["Kinesis:StreamName"]);
        builder.UseOrleans(silo =>
        {
            silo.ConfigureCluster(configuration, embedded: !aws, ecsTask);
            // Peers read each other's HTTP endpoint (for /api/cluster) and zone from the silo metadata.
            var advertisedHost = configuration["Silo:AdvertisedHost"] ?? ecsTask?.PrivateIPv4Address ?? "127.0.0.1";
            var metadata = new Dictionary<string, string> { [SiloMetadataKeys.Http] = $"http://{advertisedHost}:{http.Port}" };
            if (zone is { Length: > 0 })
            {
                metadata[SiloMetadataKeys.Zone] = zone;
            }

            silo.UseSiloMetadata(metadata);
            silo.UseClusterTls(configuration);
            silo.AddDashboard();
            if (aws)
            {
                silo.AddAwsStreamsAndStorage(configuration);
            }
            else
            {
                silo.AddEmbeddedStreamsAndStorage(configuration);
            }

            silo.AddAnalytics(o =>
            {
                // Every grain write is a paid DynamoDB write in AWS mode, and an SQLite write that holds
                // the grain's next delivery embedded: write at checkpoints, not every second.
                o.FlushInterval = aws ? AwsCheckpointInterval : EmbeddedCheckpointInterval;

                configuration.GetSection("Analytics").Bind(o);
            });
        });
        builder.Services.AddSingleton<MessagingCounters>();
        builder.Services.AddHostedService<SiloLifetimeLog>();

        builder.Services.AddSingleton(sp =>
        {
            var validation = new EventValidationOptions();
            configuration.GetSection("Events").Bind(validation);
            validation.Validate();
            return validation;
        });
        builder.Services.AddSingleton<EventIngestor>();
        builder.Services.AddHttpClient(ClusterOverview.HttpClientName);
        builder.Services.AddSingleton<ClusterOverview>();
        builder.Services.AddOpenApi();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.NumberHandling = ApiJson.Options.NumberHandling);
        return builder;
    }

    /// <summary>
    /// The default checkpoint and grain-write cadence in AWS mode. Every grain that received events
    /// writes once an interval (and a checkpoint waits for those writes, see CheckpointSettle), so
    /// the DynamoDB writes per event are about (grains touched + claim segments + leases) per
    /// interval, divided by the events of that interval (see PERFORMANCE.md). Queries read grain
    /// memory, not storage; a crash replays at most this much of the stream, plus the settle.
    /// </summary>
    public static readonly TimeSpan AwsCheckpointInterval = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Embedded mode's checkpoint and grain-write cadence. At 1 s the grains' SQLite writes held
    /// their next deliveries and kept freshness p99 near 2 s under load; at 5 s it stays under
    /// 0.5 s (PERFORMANCE.md, issue 14). A crash replays at most this much of the local log, plus
    /// the settle.
    /// </summary>
    public static readonly TimeSpan EmbeddedCheckpointInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a checkpoint waits before it asks the grains (<c>Streams:CheckpointSettle</c>): 1.25
    /// flush intervals, the longest a dirty grain goes between two timer writes. By then every
    /// grain has written what the checkpoint covers, so it confirms without writing again, and a
    /// source group fed by all the queues writes once a flush interval instead of once per queue.
    /// </summary>
    private static TimeSpan CheckpointSettle(IConfiguration configuration, TimeSpan defaultFlushInterval) =>
        (configuration.GetValue<TimeSpan?>("Analytics:FlushInterval") ?? defaultFlushInterval) * 1.25;

    /// <summary>Embedded mode: the durable local log and SQLite state under Embedded:DataPath.</summary>
    private static void AddEmbeddedStreamsAndStorage(this ISiloBuilder silo, IConfiguration configuration)
    {
        var embedded = configuration.GetSection(EmbeddedOptions.Section).Get<EmbeddedOptions>() ?? new EmbeddedOptions();
        var dataPath = Path.GetFullPath(embedded.DataPath);
        silo.AddSqliteGrainStorage(AnalyticsStreams.Storage, o =>
        {
            o.FilePath = Path.Combine(dataPath, "grain-state.db");
            o.GrainStorageSerializer = new JsonGrainStateSerializer();
            configuration.GetSection("Storage").Bind(o);
        });
        silo.AddLocalLogStreams(
            AnalyticsStreams.Provider,
            o =>
            {
                o.DataPath = Path.Combine(dataPath, "log");
                o.Partitions = embedded.Partitions;
            },
            o =>
            {
                o.CheckpointInterval = EmbeddedCheckpointInterval;
                o.CheckpointSettle = CheckpointSettle(configuration, EmbeddedCheckpointInterval);
                configuration.GetSection("Streams").Bind(o);
            });
    }

    /// <summary>
    /// AWS mode: events in the Kinesis stream Kinesis:StreamName, read by shard leases in DynamoDB
    /// that also hold the checkpoints; grain state, membership and dead letters in DynamoDB too.
    /// Tables are created at start-up unless DynamoDB:CreateTables is false; the stream must exist.
    /// </summary>
    private static void AddAwsStreamsAndStorage(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.Services.AddKinesisClient(configuration);
        silo.Services.AddDynamoDB(configuration);
        silo.UseDynamoDBClustering(o => configuration.GetSection("Membership").Bind(o));
        silo.AddDynamoDBGrainStorage(AnalyticsStreams.Storage, o =>
        {
            o.GrainStorageSerializer = new JsonGrainStateSerializer();
            configuration.GetSection("Storage").Bind(o);
        });
        silo.AddKinesisStreams(
            AnalyticsStreams.Provider,
            o =>
            {
                configuration.GetSection("Kinesis").Bind(o);
                // The keys of earlier builds keep working: Leases:LeaseDuration, Leases:RenewInterval
                // and Streams:QueueRefreshInterval are now LeaseLength, LeaseRenewPeriod and ShardRefreshInterval.
                o.LeaseLength = configuration.GetValue("Leases:LeaseDuration", configuration.GetValue("Leases:LeaseLength", o.LeaseLength));
                o.LeaseRenewPeriod = configuration.GetValue("Leases:RenewInterval", configuration.GetValue("Leases:LeaseRenewPeriod", o.LeaseRenewPeriod));
                o.ShardRefreshInterval = configuration.GetValue("Streams:QueueRefreshInterval", o.ShardRefreshInterval);
            },
            o =>
            {
                o.CheckpointInterval = AwsCheckpointInterval;
                o.CheckpointSettle = CheckpointSettle(configuration, AwsCheckpointInterval);
                configuration.GetSection("Streams").Bind(o);
            });
    }

    public static WebApplication UseAnalyticsApi(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<HttpOptions>>().Value.InlineQueries)
        {
            app.UseIoThreadOffload();
        }

        app.UseApiErrors();
        app.UseServerTiming();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapIngestEndpoints();
        app.MapMetricEndpoints();
        app.MapSourceEndpoints();
        app.MapClusterEndpoints();
        app.MapAnalyticsDashboard();
        app.MapOrleansDashboard("/dashboard");
        return app;
    }
}
