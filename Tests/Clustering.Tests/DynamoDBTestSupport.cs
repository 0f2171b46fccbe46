using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Analytics.Aws.DynamoDB;
using Analytics.Aws.Tests;
using Analytics.Clustering.DynamoDB;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Analytics.Clustering.Tests;

/// <summary>Building the provider's classes by hand against the emulators, as the container would.</summary>
internal static class DynamoDBTestSupport
{
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(20);

    public static DynamoDBMembershipTable Table(IAmazonDynamoDB client, string clusterId, string prefix, bool? createTable = null, TimeSpan? operationTimeout = null) => new(
        client,
        Options.Create(new DynamoDBClusteringOptions { CreateTable = createTable, OperationTimeout = operationTimeout ?? TimeSpan.FromSeconds(30) }),
        Options.Create(new DynamoDBOptions { TablePrefix = prefix }),
        Options.Create(new ClusterOptions { ClusterId = clusterId }),
        TimeProvider.System,
        NullLogger<DynamoDBMembershipTable>.Instance);

    public static DynamoDBGatewayListProvider Gateways(IAmazonDynamoDB client, string clusterId, string prefix, TimeSpan? refresh = null) => new(
        client,
        Options.Create(new DynamoDBClusteringOptions()),
        Options.Create(new DynamoDBOptions { TablePrefix = prefix }),
        Options.Create(new ClusterOptions { ClusterId = clusterId }),
        Options.Create(new GatewayOptions { GatewayListRefreshPeriod = refresh ?? TimeSpan.FromSeconds(30) }),
        TimeProvider.System,
        NullLogger<DynamoDBGatewayListProvider>.Instance);

    /// <summary>Through a proxy, with the SDK's own retries off: <see cref="DynamoDBRetry"/> does them, quickly.</summary>
    public static AmazonDynamoDBClient ClientVia(Uri url, HttpClientFactory? http = null) => new(
        EmulatorHost.Credentials,
        new AmazonDynamoDBConfig { ServiceURL = url.ToString(), AuthenticationRegion = EmulatorHost.Region, MaxErrorRetry = 0, HttpClientFactory = http });

    public static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting.");
            await Task.Delay(5);
        }
    }

    /// <summary>Sends the first request of one operation on, then drops its answer as a broken connection would.</summary>
    public sealed class LoseFirstAnswerFactory(string operation) : HttpClientFactory
    {
        private readonly string _suffix = "." + operation;
        private int _lost;

        public int Lost => _lost;

        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Handler(this) { InnerHandler = new HttpClientHandler() });

        private sealed class Handler(LoseFirstAnswerFactory owner) : DelegatingHandler
        {
            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                var response = await base.SendAsync(request, cancellationToken);
                if (request.Headers.TryGetValues("X-Amz-Target", out var targets) && targets.Single().EndsWith(owner._suffix, StringComparison.Ordinal)
                    && Interlocked.CompareExchange(ref owner._lost, 1, 0) == 0)
                {
                    response.Dispose();
                    throw new IOException("The connection broke before the answer arrived.");
                }

                return response;
            }
        }
    }
}
