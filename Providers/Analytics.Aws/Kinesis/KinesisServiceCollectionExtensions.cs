using Amazon.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Analytics.Aws.Kinesis;

public static class KinesisServiceCollectionExtensions
{
    /// <summary>
    /// Registers one shared <see cref="KinesisClient"/> configured from the contract's keys
    /// (<c>Kinesis:ServiceUrl</c>, <c>AWS:Region</c>), validated at start-up. Credentials come from
    /// an <see cref="AWSCredentials"/> registered in the container, or else the standard AWS chain.
    /// </summary>
    public static IServiceCollection AddKinesisClient(this IServiceCollection services, IConfiguration configuration, Action<KinesisClientOptions>? configure = null)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KinesisClientOptions>, KinesisClientOptionsValidator>());
        services.AddOptions<KinesisClientOptions>()
            .Configure(options =>
            {
                var fromConfiguration = KinesisClientOptions.FromConfiguration(configuration);
                options.ServiceUrl = fromConfiguration.ServiceUrl;
                options.Region = fromConfiguration.Region;
                configure?.Invoke(options);
            })
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new KinesisClient(
            sp.GetRequiredService<IOptions<KinesisClientOptions>>().Value,
            sp.GetService<AWSCredentials>(),
            sp.GetService<ILogger<KinesisClient>>(),
            timeProvider: sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
