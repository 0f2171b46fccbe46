using System.Text;
using Analytics.Persistence.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Storage;

namespace Analytics.Persistence.Tests;

/// <summary>The SQLite provider registered on real Orleans silos, grains on <c>[PersistentState("notes", "analytics")]</c>.</summary>
public sealed class SqliteGrainStorageClusterTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "persistence-cluster-tests-" + Guid.NewGuid().ToString("N"));

    private string FilePath => Path.Combine(_folder, "data", "grain-state.db");

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public async Task A_grain_state_is_read_back_from_the_file_after_deactivation_and_by_the_next_cluster()
    {
        string? etag;
        await using (var cluster = await TestClusters.StartSqliteAsync(FilePath))
        {
            // The silo opened (and so created) the file at start, before any grain ran.
            Assert.True(File.Exists(FilePath));

            var grain = cluster.GrainFactory.GetGrain<INotesGrain>("a");
            Assert.Empty(await grain.Lines());
            Assert.False(await grain.RecordExists());
            await grain.Append("one");
            await grain.Append(new string('x', 600_000));

            // Behind the grain's back, through the silo's own provider: the next activation must see it.
            await cluster.DeactivateAsync(grain);
            var storage = cluster.SiloServices().GetRequiredKeyedService<IGrainStorage>("analytics");
            Assert.IsType<SqliteGrainStorage>(storage);
            var state = new TestState<NotesState>();
            await storage.ReadStateAsync("notes", grain.GetGrainId(), state);
            state.State.Lines.Add("written by another writer");
            await storage.WriteStateAsync("notes", grain.GetGrainId(), state);

            Assert.Equal(["one", new string('x', 600_000), "written by another writer"], await grain.Lines());
            etag = await grain.ETag();
            Assert.Equal(state.ETag, etag);
        }

        // The stopped silo closed the file (and its WAL): this process holds none of them open.
        Assert.DoesNotContain(OpenFiles(), f => f.StartsWith(FilePath, StringComparison.Ordinal));

        await using (var cluster = await TestClusters.StartSqliteAsync(FilePath))
        {
            var grain = cluster.GrainFactory.GetGrain<INotesGrain>("a");
            Assert.Equal(3, (await grain.Lines()).Count);
            Assert.Equal(etag, await grain.ETag());
            await grain.Append("fourth");
            Assert.NotEqual(etag, await grain.ETag());

            await grain.Clear();
            await cluster.DeactivateAsync(grain);
            Assert.Empty(await grain.Lines());
            Assert.False(await grain.RecordExists());
        }
    }

    [Fact]
    public async Task Unset_the_serializer_is_the_silos_default_and_one_registered_under_the_providers_name_wins()
    {
        await using (var cluster = await TestClusters.StartSqliteAsync(FilePath))
        {
            var services = cluster.SiloServices();
            var serializer = services.GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get("analytics").GrainStorageSerializer;
            Assert.Same(services.GetRequiredService<IGrainStorageSerializer>(), serializer);
            Assert.IsType<JsonGrainStorageSerializer>(serializer);
            await cluster.GrainFactory.GetGrain<INotesGrain>("default").Append("hello");
        }

        await using (var cluster = await TestClusters.StartSqliteAsync(FilePath, serializer: "SystemTextJson"))
        {
            var serializer = cluster.SiloServices().GetRequiredService<IOptionsMonitor<SqliteGrainStorageOptions>>().Get("analytics").GrainStorageSerializer;
            Assert.IsType<SystemTextJsonGrainStorageSerializer>(serializer);
            await cluster.GrainFactory.GetGrain<INotesGrain>("named").Append("hello");
        }

        // Newtonsoft's output carries its type names; System.Text.Json's is the plain object.
        var stored = StoredJson();
        Assert.Contains("\"hello\"", stored["notes/default"]);
        Assert.Contains("$type", stored["notes/default"]);
        Assert.Equal("""{"Lines":["hello"]}""", stored["notes/named"]);
    }

    private static List<string> OpenFiles() =>
        OperatingSystem.IsLinux()
            ? new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Select(fd => fd.LinkTarget).OfType<string>().ToList()
            : [];

    private Dictionary<string, string> StoredJson()
    {
        using var connection = new SqliteConnection($"Data Source={FilePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT grain_id, data FROM grain_state";
        using var reader = command.ExecuteReader();
        var rows = new Dictionary<string, string>();
        while (reader.Read())
        {
            rows[reader.GetString(0)] = Encoding.UTF8.GetString((byte[])reader.GetValue(1));
        }

        return rows;
    }
}
