using Analytics.Events;
using Analytics.Grains;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Persistence;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Streaming.LocalLog;
using Analytics.Silo.Api;
using Analytics.Silo.Ingest;
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
        builder.Services.AddOptions<HttpOptions>().Bind(configuration.GetSection(HttpOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<HttpOptions>, HttpOptionsValidator>();
        builder.WebHost.UseUrls($"http://{http.Address}:{http.Port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = http.MaxBodyBytes * 2);
        // ECS waits 30 s after SIGTERM before it kills the task; finish within that.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(25));

        if (!string.IsNullOrEmpty(configuration["Kinesis:StreamName"]))
        {
            throw new OptionsValidationException("Kinesis:StreamName", typeof(string), [
                "Kinesis:StreamName is set, but this build has no Kinesis adapter yet (it arrives with the AWS work). Unset it to run in embedded mode."]);
        }

        var embedded = configuration.GetSection(EmbeddedOptions.Section).Get<EmbeddedOptions>() ?? new EmbeddedOptions();
        var dataPath = Path.GetFullPath(embedded.DataPath);
        builder.Services.Configure<SiloOptions>(o =>
        {
            o.ClusterId = configuration["Cluster:Id"] ?? o.ClusterId;
            o.SiloPort = configuration.GetValue("Silo:Port", o.SiloPort);
            o.GatewayPort = configuration.GetValue("Gateway:Port", o.GatewayPort);
            o.SiloName = configuration["Silo:Name"] ?? o.SiloName;
            o.Zone = configuration["Silo:Zone"] ?? o.Zone;
        });

        builder.UseSilo(silo =>
        {
            silo.AddSqliteGrainStorage(AnalyticsStreams.Storage, o =>
            {
                o.FilePath = Path.Combine(dataPath, "grain-state.db");
                configuration.GetSection("Storage").Bind(o);
            });
            silo.AddLocalLogStreams(
                AnalyticsStreams.Provider,
                new LocalLogOptions { DataPath = Path.Combine(dataPath, "log"), Partitions = embedded.Partitions },
                o => configuration.GetSection("Streams").Bind(o));
            silo.AddAnalytics(o => configuration.GetSection("Analytics").Bind(o));
        });

        builder.Services.AddSingleton(sp =>
        {
            var validation = new EventValidationOptions();
            configuration.GetSection("Events").Bind(validation);
            validation.Validate();
            return validation;
        });
        builder.Services.AddSingleton<EventIngestor>();
        builder.Services.AddOpenApi();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.NumberHandling = ApiJson.Options.NumberHandling);
        return builder;
    }

    public static WebApplication UseAnalyticsApi(this WebApplication app)
    {
        app.UseApiErrors();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapIngestEndpoints();
        app.MapMetricEndpoints();
        app.MapSourceEndpoints();
        app.MapClusterEndpoints();
        return app;
    }
}
