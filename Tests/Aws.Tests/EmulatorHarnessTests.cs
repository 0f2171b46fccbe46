using System.Diagnostics;
using System.Net.Sockets;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.Kinesis;

namespace Analytics.Aws.Tests;

[Collection(EmulatorCollection.Name)]
public sealed class EmulatorHarnessTests(EmulatorHost emulators)
{
    [Fact]
    public async Task Dynalite_answers_the_dynamodb_sdk_at_the_service_url()
    {
        using var client = emulators.CreateDynamoDbClient();
        var table = EmulatorHost.UniqueName("harness");

        await client.CreateTableAsync(new CreateTableRequest
        {
            TableName = table,
            KeySchema = [new KeySchemaElement("id", KeyType.HASH)],
            AttributeDefinitions = [new AttributeDefinition("id", ScalarAttributeType.S)],
            BillingMode = BillingMode.PAY_PER_REQUEST,
        });
        var tables = await client.ListTablesAsync(new ListTablesRequest());

        Assert.Contains(table, tables.TableNames);
    }

    [Fact]
    public void The_emulators_listen_on_loopback_only()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // reads Linux's socket table
        }

        // /proc/net/tcp lists listening sockets (state 0A) as hex "address:port"; 0100007F is 127.0.0.1.
        var listening = File.ReadLines("/proc/net/tcp").Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields[3] == "0A")
            .Select(fields => fields[1].Split(':'))
            .ToLookup(local => Convert.ToInt32(local[1], 16), local => local[0]);

        Assert.All(emulators.Ports, port => Assert.Equal(["0100007F"], listening[port]));
        var listening6 = File.ReadAllText("/proc/net/tcp6");
        Assert.All(emulators.Ports, port => Assert.DoesNotContain($":{port:X4} 00000000000000000000000000000000:0000 0A", listening6, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stopped_emulator_leaves_no_process_and_no_port_behind()
    {
        // Its own kinesis-mock, with a stream made at start-up.
        var emulator = await EmulatorProcess.StartAsync(
            "kinesis-mock", 2, ports => EmulatorHost.KinesisMockStartInfo(ports[0], ports[1], initializeStreams: "boot:3"), TimeSpan.FromSeconds(45));
        var pid = emulator.ProcessId;
        var ports = emulator.Ports.ToList();
        try
        {
            using var client = new KinesisClient(new KinesisClientOptions { ServiceUrl = emulator.Url.ToString() }, EmulatorHost.Credentials);
            Assert.Equal(3, (await client.WaitForStreamActiveAsync("boot", TimeSpan.FromSeconds(20))).OpenShardCount);
        }
        finally
        {
            await emulator.DisposeAsync();
        }

        Assert.Throws<ArgumentException>(() => Process.GetProcessById(pid));
        foreach (var port in ports)
        {
            using var probe = new TcpClient();
            await Assert.ThrowsAsync<SocketException>(() => probe.ConnectAsync("127.0.0.1", port));
        }
    }
}
