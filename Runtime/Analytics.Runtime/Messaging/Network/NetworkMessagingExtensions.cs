using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Messaging.Network;

public static class NetworkMessagingExtensions
{
    /// <summary>
    /// Puts the silo on the network: other silos call it on SiloOptions.SiloPort and clients on
    /// SiloOptions.GatewayPort, both authenticated by the cluster secret. Replaces the in-process
    /// transport; use it together with a shared membership table (UseDynamoDBClustering).
    /// </summary>
    public static ISiloBuilder UseNetworkMessaging(this ISiloBuilder builder, Action<NetworkMessagingOptions>? configure = null)
    {
        var services = builder.Services;
        var options = services.AddOptions<NetworkMessagingOptions>().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddSingleton<IValidateOptions<NetworkMessagingOptions>, NetworkMessagingOptionsValidator>();
        services.AddSingleton<IValidateOptions<SiloOptions>, NetworkPortsValidator>();
        services.AddSingleton<NetworkMessageTransport>();
        services.RemoveAll<IMessageTransport>();
        services.RemoveAll<ISiloProber>();
        services.AddSingleton<IMessageTransport>(sp => sp.GetRequiredService<NetworkMessageTransport>());
        services.AddSingleton<ISiloProber>(sp => sp.GetRequiredService<NetworkMessageTransport>());
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<NetworkMessageTransport>());
        return builder;
    }

    /// <summary>A silo's address names its port, so it must be a fixed one, and the two ports must differ.</summary>
    private sealed class NetworkPortsValidator : IValidateOptions<SiloOptions>
    {
        public ValidateOptionsResult Validate(string? name, SiloOptions options) =>
            options.SiloPort == 0 || options.GatewayPort == 0
                ? ValidateOptionsResult.Fail($"Silo:Port and Gateway:Port must be set to fixed ports on a networked silo (Silo:Port={options.SiloPort}, Gateway:Port={options.GatewayPort}).")
                : options.SiloPort == options.GatewayPort
                    ? ValidateOptionsResult.Fail($"Silo:Port and Gateway:Port must differ (both are {options.SiloPort}).")
                    : ValidateOptionsResult.Success;
    }
}
