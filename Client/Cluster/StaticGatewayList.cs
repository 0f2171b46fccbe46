using Microsoft.Extensions.Logging;
using Orleans.Messaging;

namespace Analytics.Client.Cluster;

/// <summary>
/// The gateways the caller named, as Orleans' gateway list. Host names are resolved at every
/// refresh, so a silo that comes back at a new address under the same name is found again; a name
/// that does not resolve is left out (and logged) rather than failing the others.
/// </summary>
internal sealed partial class StaticGatewayList(IReadOnlyList<GatewayEndpoint> gateways, ILogger<StaticGatewayList> logger) : IGatewayListProvider
{
    public TimeSpan MaxStaleness { get; } = TimeSpan.FromMinutes(1);

    public bool IsUpdatable => true;

    public Task InitializeGatewayListProvider() => Task.CompletedTask;

    public async Task<IList<Uri>> GetGateways()
    {
        var uris = new List<Uri>(gateways.Count);
        foreach (var gateway in gateways)
        {
            try
            {
                foreach (var endpoint in await gateway.ResolveAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    uris.Add(GatewayEndpoint.ToGatewayUri(endpoint));
                }
            }
            catch (System.Net.Sockets.SocketException exception)
            {
                LogUnresolved(exception, gateway.ToString());
            }
        }

        return uris;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gateway {Gateway}: its host name does not resolve; it is left out of the gateway list for now")]
    private partial void LogUnresolved(Exception exception, string gateway);
}
