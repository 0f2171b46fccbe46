using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Amazon.DynamoDBv2;
using Analytics.Aws.DynamoDB;
using Analytics.Aws.Kinesis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.TestingHost;

namespace Analytics.Kinesis.Tests;

/// <summary>
/// In-process silos reading one Kinesis stream of kinesis-mock through provider "kinesis", with
/// leases in dynalite, tallies in a store that outlives silos, and a crash switch per silo.
/// </summary>
internal sealed class KinesisCluster : IAsyncDisposable
{
    public const string Provider = "kinesis";

    private readonly ConcurrentDictionary<string, SiloFaults> _faults = new(StringComparer.Ordinal);
    private readonly SharedStateStore _store = new();
    private readonly AmazonDynamoDBClient _dynamo;
    private readonly DynamoDBOptions _dynamoOptions = new() { TablePrefix = EmulatorHost.UniqueName("cluster") + "-" };
    private readonly string _group = EmulatorHost.UniqueName("leases");

    private KinesisCluster(EmulatorHost emulators, KinesisClient client, string stream, InProcessTestCluster cluster)
    {
        Client = client;
        Stream = stream;
        Cluster = cluster;
        _dynamo = emulators.CreateDynamoDbClient();
        Leases = new DynamoDBShardLeaseTable(_dynamo, _dynamoOptions, _group);
        Writer = new KinesisQueueWriter(client, new KinesisStreamOptions { StreamName = stream }, TimeProvider.System, NullLogger<KinesisQueueWriter>.Instance);
    }

    public KinesisClient Client { get; }

    public string Stream { get; }

    public InProcessTestCluster Cluster { get; }

    /// <summary>The provider's lease table as the silos see it, for the test to watch.</summary>
    public IShardLeaseTable Leases { get; }

    public KinesisQueueWriter Writer { get; }

    /// <summary>What the silos logged; print it when a test fails or to see where time goes.</summary>
    public TestLog Log { get; } = new();

    public static async Task<KinesisCluster> StartAsync(EmulatorHost emulators, KinesisClient client, string stream, short silos, Action<KinesisStreamOptions> configure)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false;
        KinesisCluster? cluster = null;
        builder.ConfigureSilo((siloOptions, silo) => cluster!.ConfigureSilo(siloOptions.SiloName, silo, configure));
        cluster = new KinesisCluster(emulators, client, stream, builder.Build());
        await cluster.Cluster.DeployAsync();
        return cluster;
    }

    /// <summary>Cuts the silo off from the lease table and the state store, then kills it: a crash.</summary>
    public async Task CrashAsync(InProcessSiloHandle silo)
    {
        _faults[silo.Name].Crash();
        await Cluster.KillSiloAsync(silo);
    }

    /// <summary>Cuts the silo off from the lease table only: its leases expire while it lives on.</summary>
    public void CutLeaseTable(InProcessSiloHandle silo) => _faults[silo.Name].CutLeaseTable();

    /// <summary>The shards the silo's balancer believes it holds.</summary>
    public static IReadOnlyList<string> HeldBy(InProcessSiloHandle silo) =>
        silo.SiloHost.Services.GetRequiredKeyedService<KinesisQueueBalancer>(Provider).Leases.HeldShards;

    public static string Owner(InProcessSiloHandle silo) => silo.SiloAddress.ToParsableString();

    public async Task AppendAsync(int from, int count, int keys) =>
        await Writer.AppendAsync(
            [.. Enumerable.Range(from, count).Select(n => ($"key-{n % keys}", (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(n.ToString(CultureInfo.InvariantCulture))))],
            CancellationToken.None);

    public async Task<TallyReport[]> ReportsAsync(int keys) =>
        await Task.WhenAll(Enumerable.Range(0, keys).Select(k => Cluster.Client.GetGrain<ITallyGrain>($"key-{k}").Report()));

    /// <summary>True when every shard that is not ended has its lease held by one of the given silos.</summary>
    public async Task<bool> AllOwnedByAsync(IEnumerable<InProcessSiloHandle> silos, int shards)
    {
        var owners = silos.Select(Owner).ToHashSet(StringComparer.Ordinal);
        var open = (await Leases.ListAsync(CancellationToken.None)).Where(l => !l.IsEnded).ToList();
        return open.Count == shards && open.All(l => l.Owner is not null && owners.Contains(l.Owner));
    }

    /// <summary>True when every shard is held by one of the given silos, and each holds its fair share (no more than one apart).</summary>
    public async Task<bool> BalancedOverAsync(IReadOnlyList<InProcessSiloHandle> silos, int shards)
    {
        if (!await AllOwnedByAsync(silos, shards))
        {
            return false;
        }

        var held = (await Leases.ListAsync(CancellationToken.None)).Where(l => !l.IsEnded).GroupBy(l => l.Owner!).ToDictionary(g => g.Key, g => g.Count());
        var counts = silos.Select(s => held.GetValueOrDefault(Owner(s))).ToList();
        return counts.Max() - counts.Min() <= 1 && silos.All(s => HeldBy(s).Count == held.GetValueOrDefault(Owner(s)));
    }

    public static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, string because)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Not within {timeout.TotalSeconds:0} s: {because}");
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        _dynamo.Dispose();
    }

    private void ConfigureSilo(string siloName, ISiloBuilder silo, Action<KinesisStreamOptions> configure)
    {
        var faults = _faults.GetOrAdd(siloName, _ => new SiloFaults());
        var services = silo.Services;
        services.AddLogging(logging => logging.AddProvider(Log.For(siloName)));
        services.AddSingleton(Client);
        services.AddSingleton<IAmazonDynamoDB>(_dynamo);
        services.Configure<DynamoDBOptions>(o => o.TablePrefix = _dynamoOptions.TablePrefix);
        services.AddKeyedSingleton<IShardLeaseTable>(Provider, (_, _) => new CrashableLeaseTable(new DynamoDBShardLeaseTable(_dynamo, _dynamoOptions, _group), faults));
        services.AddGrainStorage(TallyGrain.Storage, (_, _) => new SharedGrainStorage(_store, faults));
        silo.AddQueuePageHandler(Provider, _ => new TallyPageHandler());
        silo.AddKinesisStreams(
            Provider,
            o =>
            {
                o.StreamName = Stream;
                o.MinPollInterval = TimeSpan.FromMilliseconds(50);
                configure(o);
            },
            o =>
            {
                o.CheckpointInterval = TimeSpan.FromMilliseconds(200);
                // A direct consumer reactivated after its silo died answers a checkpoint Pending
                // (its older watermark), not Gap, so the receiver replays only after this timeout.
                o.PendingCheckpointTimeout = TimeSpan.FromSeconds(5);
            },
            orleans => orleans.ConfigurePullingAgent(agent => agent.Configure(o => o.GetQueueMsgsTimerPeriod = TimeSpan.FromMilliseconds(50))));
    }
}
