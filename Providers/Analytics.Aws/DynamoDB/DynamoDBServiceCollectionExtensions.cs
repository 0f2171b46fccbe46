using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Analytics.Aws.DynamoDB;

public static class DynamoDBServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="DynamoDBOptions"/> from the contract's keys (validated at start-up) and one
    /// shared <see cref="IAmazonDynamoDB"/> client. Credentials come from an <see cref="AWSCredentials"/>
    /// registered in the container, or else the standard AWS chain.
    /// </summary>
    public static IServiceCollection AddDynamoDB(this IServiceCollection services, IConfiguration configuration, Action<DynamoDBOptions>? configure = null)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DynamoDBOptions>, DynamoDBOptionsValidator>());
        services.AddOptions<DynamoDBOptions>()
            .Configure(options =>
            {
                options.Bind(configuration);
                configure?.Invoke(options);
            })
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IAmazonDynamoDB>(sp => CreateClient(sp.GetRequiredService<IOptions<DynamoDBOptions>>().Value, sp.GetService<AWSCredentials>()));
        return services;
    }

    /// <summary>A client for the options' endpoint, with the SDK's standard retry mode (our own retry covers what outlasts it).</summary>
    public static AmazonDynamoDBClient CreateClient(DynamoDBOptions options, AWSCredentials? credentials)
    {
        var config = new AmazonDynamoDBConfig { RetryMode = RequestRetryMode.Standard, MaxErrorRetry = 4 };
        if (string.IsNullOrWhiteSpace(options.ServiceUrl))
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }
        else
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region;
        }

        return credentials is null ? new AmazonDynamoDBClient(config) : new AmazonDynamoDBClient(credentials, config);
    }
}
