using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace Analytics.Persistence.Sqlite;

public static class SqliteGrainStorageExtensions
{
    /// <summary>Registers the SQLite grain storage as the silo's default provider (for <c>[PersistentState]</c> without a provider name).</summary>
    public static ISiloBuilder AddSqliteGrainStorageAsDefault(this ISiloBuilder builder, Action<SqliteGrainStorageOptions>? configure = null) =>
        builder.AddSqliteGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, configure);

    /// <summary>
    /// Registers a grain storage provider named <paramref name="name"/> in the SQLite file
    /// <see cref="SqliteGrainStorageOptions.FilePath"/>, opened (and created) at silo start and
    /// closed when the silo's services are disposed, after the last grain has written.
    /// </summary>
    public static ISiloBuilder AddSqliteGrainStorage(this ISiloBuilder builder, string name, Action<SqliteGrainStorageOptions>? configure = null)
    {
        builder.Services.AddSqliteGrainStorage(name, configure);
        return builder;
    }

    /// <summary>
    /// As <see cref="AddSqliteGrainStorage(ISiloBuilder, string, Action{SqliteGrainStorageOptions}?)"/>.
    /// To bind the options from configuration, add to the named options:
    /// <c>services.AddOptions&lt;SqliteGrainStorageOptions&gt;(name).BindConfiguration("Storage")</c>.
    /// </summary>
    public static IServiceCollection AddSqliteGrainStorage(this IServiceCollection services, string name, Action<SqliteGrainStorageOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var options = services.AddOptions<SqliteGrainStorageOptions>(name);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        // Fills in GrainStorageSerializer when the host did not: the serializer registered under
        // this provider's name, else the silo's default IGrainStorageSerializer.
        services.AddTransient<IPostConfigureOptions<SqliteGrainStorageOptions>, DefaultStorageProviderSerializerOptionsConfigurator<SqliteGrainStorageOptions>>();
        services.AddTransient<IConfigurationValidator>(sp => new SqliteGrainStorageOptionsValidator(
            sp.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get(name),
            name));
        services.ConfigureNamedOptionForLogging<SqliteGrainStorageOptions>(name);

        // The container owns the instance and disposes it, which drains the queued writes and closes the file.
        return services.AddGrainStorage(name, (sp, key) => new SqliteGrainStorage(
            key,
            sp.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get(key),
            sp.GetRequiredService<IActivatorProvider>(),
            sp.GetRequiredService<ILogger<SqliteGrainStorage>>()));
    }
}
