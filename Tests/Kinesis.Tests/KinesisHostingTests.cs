using Analytics.Aws.DynamoDB;
using Analytics.Aws.Kinesis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Analytics.Kinesis.Tests;

/// <summary>What AddKinesisStreams registers, on a silo host that is built but never started.</summary>
public sealed class KinesisHostingTests
{
    private static IHost Build(Action<KinesisStreamOptions> configure)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kinesis:ServiceUrl"] = "http://127.0.0.1:1",
            ["DynamoDB:ServiceUrl"] = "http://127.0.0.1:1",
            ["DynamoDB:TablePrefix"] = "test-",
        });
        builder.Services.AddKinesisClient(builder.Configuration);
        builder.Services.AddDynamoDB(builder.Configuration);
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(serviceId: "svc");
            silo.AddQueuePageHandler("kinesis", _ => new TallyPageHandler());
            silo.AddKinesisStreams("kinesis", configure);
        });
        return builder.Build();
    }

    [Fact]
    public void The_provider_keeps_leases_and_dead_letters_in_dynamodb_and_writes_through_kinesis_under_its_name()
    {
        using var host = Build(o => o.StreamName = "events");
        var services = host.Services;

        var leases = Assert.IsType<DynamoDBShardLeaseTable>(services.GetRequiredKeyedService<IShardLeaseTable>("kinesis"));
        Assert.Equal("svc/kinesis", leases.Group);
        Assert.Equal("test-leases", leases.TableName);
        Assert.IsType<KinesisQueueWriter>(services.GetRequiredKeyedService<IQueueWriter>("kinesis"));
        Assert.Same(services.GetRequiredKeyedService<IQueueWriter>("kinesis"), services.GetQueueWriter("kinesis"));
        var deadLetters = Assert.IsType<DynamoDBDeadLetterStore>(services.GetRequiredKeyedService<IDeadLetterStore>("kinesis"));
        Assert.Equal("test-dead-letters", deadLetters.TableName);
        Assert.Equal("kinesis", deadLetters.StoreName);
        Assert.Equal("events", services.GetRequiredService<IOptionsMonitor<KinesisStreamOptions>>().Get("kinesis").StreamName);
        Assert.NotNull(services.GetRequiredKeyedService<KinesisQueueBalancer>("kinesis"));
        Assert.Equal("svc", services.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId);
    }

    [Fact]
    public void A_lease_group_can_be_named()
    {
        using var host = Build(o =>
        {
            o.StreamName = "events";
            o.LeaseGroup = "shared-app";
        });

        Assert.Equal("shared-app", Assert.IsType<DynamoDBShardLeaseTable>(host.Services.GetRequiredKeyedService<IShardLeaseTable>("kinesis")).Group);
    }

    [Fact]
    public void Invalid_options_fail_at_configuration()
    {
        var missing = Assert.Throws<OptionsValidationException>(() => Build(_ => { }));
        Assert.Contains("StreamName must be set", missing.Message, StringComparison.Ordinal);

        var renew = Assert.Throws<OptionsValidationException>(() => Build(o =>
        {
            o.StreamName = "events";
            o.LeaseLength = TimeSpan.FromSeconds(2);
            o.LeaseRenewPeriod = TimeSpan.FromSeconds(2);
        }));
        Assert.Contains("LeaseRenewPeriod must be at most half of LeaseLength", renew.Message, StringComparison.Ordinal);
    }
}
