using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Analytics.Aws.Tests;
using Analytics.Persistence.DynamoDB;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;

namespace Analytics.Persistence.Tests;

/// <summary>The DynamoDB provider registered on real Orleans silos, grains on <c>[PersistentState("notes", "analytics")]</c>.</summary>
[Collection(EmulatorCollection.Name)]
public sealed class DynamoDBGrainStorageClusterTests(EmulatorHost emulators) : IDisposable
{
    private readonly AmazonDynamoDBClient _client = emulators.CreateDynamoDbClient();
    private readonly string _prefix = EmulatorHost.UniqueName("gsc") + "-";

    public void Dispose() => _client.Dispose();

    [Fact]
    public async Task A_grain_state_is_read_back_from_the_table_after_deactivation_and_by_the_next_cluster()
    {
        string? etag;
        await using (var cluster = await TestClusters.StartDynamoDBAsync(emulators, _prefix))
        {
            // The silo created the table at start, before any grain ran.
            Assert.Equal(TableStatus.ACTIVE, (await _client.DescribeTableAsync(_prefix + "grain-state")).Table.TableStatus);

            var grain = cluster.GrainFactory.GetGrain<INotesGrain>("a");
            Assert.Empty(await grain.Lines());
            Assert.False(await grain.RecordExists());
            await grain.Append("small");
            await grain.Append(new string('x', 600_000));
            etag = await grain.ETag();

            // Behind the grain's back, through the silo's own provider: the next activation must see it.
            await cluster.DeactivateAsync(grain);
            var storage = cluster.SiloServices().GetRequiredKeyedService<IGrainStorage>("analytics");
            Assert.IsType<DynamoDBGrainStorage>(storage);
            var state = new TestState<NotesState>();
            await storage.ReadStateAsync("notes", grain.GetGrainId(), state);
            Assert.Equal(etag, state.ETag);
            state.State.Lines.Add("written by another writer");
            await storage.WriteStateAsync("notes", grain.GetGrainId(), state);

            Assert.Equal(["small", new string('x', 600_000), "written by another writer"], await grain.Lines());
            etag = await grain.ETag();
            Assert.Equal(state.ETag, etag);
        }

        await using (var cluster = await TestClusters.StartDynamoDBAsync(emulators, _prefix))
        {
            var grain = cluster.GrainFactory.GetGrain<INotesGrain>("a");
            Assert.Equal(3, (await grain.Lines()).Count);
            Assert.Equal(etag, await grain.ETag());
            Assert.True(await grain.RecordExists());
            await grain.Append("third");
            Assert.NotEqual(etag, await grain.ETag());

            await grain.Clear();
            await cluster.DeactivateAsync(grain);
            Assert.Empty(await grain.Lines());
            Assert.False(await grain.RecordExists());
        }
    }

    [Fact]
    public async Task Unset_the_serializer_is_the_silos_default_grain_storage_serializer_which_writes_JSON()
    {
        await using var cluster = await TestClusters.StartDynamoDBAsync(emulators, _prefix);
        var services = cluster.SiloServices();
        var serializer = services.GetRequiredService<IOptionsMonitor<DynamoDBGrainStorageOptions>>().Get("analytics").GrainStorageSerializer;

        // Orleans 10.4.2's silo default: Newtonsoft.Json through JsonGrainStorageSerializer.
        Assert.Same(services.GetRequiredService<IGrainStorageSerializer>(), serializer);
        Assert.IsType<JsonGrainStorageSerializer>(serializer);

        var grain = cluster.GrainFactory.GetGrain<INotesGrain>("json");
        await grain.Append("hello");
        var head = await _client.GetItemAsync(new GetItemRequest
        {
            TableName = _prefix + "grain-state",
            Key = new() { ["PK"] = new() { S = $"notes/{grain.GetGrainId()}" }, ["SK"] = new() { S = "head" } },
            ConsistentRead = true,
        });
        var json = Encoding.UTF8.GetString(head.Item["D"].B.ToArray());
        Assert.StartsWith("{", json);
        Assert.Contains("\"hello\"", json);
    }

    [Fact]
    public async Task A_silo_whose_table_is_missing_and_may_not_be_created_fails_to_start_naming_the_table()
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => TestClusters.StartDynamoDBAsync(emulators, _prefix, createTables: false));
        Assert.Contains(_prefix + "grain-state", e.ToString());
        Assert.Contains("DynamoDB:CreateTables", e.ToString());

        // Nothing was created behind the operator's back.
        await Assert.ThrowsAsync<ResourceNotFoundException>(() => _client.DescribeTableAsync(_prefix + "grain-state"));
    }
}
