using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Messaging;
using Orleans.Runtime;
using static Analytics.Clustering.DynamoDB.MembershipRow;

namespace Analytics.Clustering.DynamoDB;

/// <summary>
/// The client's list of gateways: the Active silos of its cluster that opened a gateway port, read from
/// the silos' membership table, as <c>gwy.tcp://{ip}:{gatewayPort}/{generation}</c>. It reads only the
/// silo rows, never the version protocol, since a client writes nothing and a list a little stale is
/// what <see cref="MaxStaleness"/> already allows.
/// </summary>
public sealed partial class DynamoDBGatewayListProvider : IGatewayListProvider
{
    private readonly IAmazonDynamoDB _client;
    private readonly bool _createTable;
    private readonly TimeSpan _tableActiveTimeout;
    private readonly TimeSpan _operationTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public DynamoDBGatewayListProvider(
        IAmazonDynamoDB client,
        IOptions<DynamoDBClusteringOptions> options,
        IOptions<DynamoDBOptions> dynamoDB,
        IOptions<ClusterOptions> cluster,
        IOptions<GatewayOptions> gateway,
        TimeProvider timeProvider,
        ILogger<DynamoDBGatewayListProvider> logger)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(dynamoDB);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(gateway);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        if (string.IsNullOrWhiteSpace(cluster.Value.ClusterId))
        {
            throw new ArgumentException("DynamoDB clustering: ClusterOptions.ClusterId must be set; it names the cluster whose gateways the client looks up.", nameof(cluster));
        }

        _client = client;
        _createTable = options.Value.ResolveCreateTable(dynamoDB.Value);
        _tableActiveTimeout = dynamoDB.Value.TableActiveTimeout;
        _operationTimeout = options.Value.OperationTimeout;
        _time = timeProvider;
        _logger = logger;
        ClusterId = cluster.Value.ClusterId;
        TableName = options.Value.ResolveTableName(dynamoDB.Value);
        MaxStaleness = gateway.Value.GatewayListRefreshPeriod;
    }

    public string ClusterId { get; }

    public string TableName { get; }

    /// <summary>How often the client asks again: <see cref="GatewayOptions.GatewayListRefreshPeriod"/>.</summary>
    public TimeSpan MaxStaleness { get; }

    public bool IsUpdatable => true;

    Task IGatewayListProvider.InitializeGatewayListProvider() => InitializeGatewayListProviderAsync(CancellationToken.None);

    /// <summary>Creates or checks the table as the silos do, so a client started first meets the same table rather than an error.</summary>
    public Task InitializeGatewayListProviderAsync(CancellationToken cancellationToken) =>
        MembershipTablePreparation.PrepareAsync(_client, DynamoDBMembershipTable.TableSpecFor(TableName), _createTable, _tableActiveTimeout, cancellationToken);

    Task<IList<Uri>> IGatewayListProvider.GetGateways() => GetGatewaysAsync(CancellationToken.None);

    public async Task<IList<Uri>> GetGatewaysAsync(CancellationToken cancellationToken)
    {
        using var budget = new OperationBudget(cancellationToken, _operationTimeout, _time);
        var gateways = new List<Uri>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var request = new QueryRequest
            {
                TableName = TableName,
                KeyConditionExpression = "#c = :c AND begins_with(#k, :silo)",
                // The filter runs after the read: it saves the transfer, not the read capacity.
                FilterExpression = "#s = :active AND #p > :zero",
                ProjectionExpression = "#a, #p",
                ExpressionAttributeNames = new()
                {
                    ["#c"] = ClusterAttribute, ["#k"] = RowKeyAttribute, ["#s"] = StatusAttribute, ["#p"] = ProxyPortAttribute, ["#a"] = AddressAttribute,
                },
                ExpressionAttributeValues = new()
                {
                    [":c"] = S(ClusterId), [":silo"] = S(SiloRowPrefix), [":active"] = S(nameof(SiloStatus.Active)), [":zero"] = N(0),
                },
                ExclusiveStartKey = start,
            };
            var page = await DynamoDBRetry.RunAsync(ct => _client.QueryAsync(request, ct), budget.Token, _time).ConfigureAwait(false);
            foreach (var item in page.Items ?? [])
            {
                var silo = SiloAddress.FromParsableString(item[AddressAttribute].S);
                gateways.Add(SiloAddress.New(silo.Endpoint.Address, ParseInt(item[ProxyPortAttribute]), silo.Generation).ToGatewayUri());
            }

            start = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (start is not null);

        LogGateways(ClusterId, gateways.Count);
        return gateways;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Cluster {ClusterId}: {Count} gateways in the membership table")]
    private partial void LogGateways(string clusterId, int count);
}
