using System.Diagnostics;
using System.Globalization;
using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Analytics.Aws.Kinesis;

namespace Analytics.Aws.Tests;

/// <summary>
/// kinesis-mock and dynalite for the whole test assembly: started once (xunit collection fixture),
/// each on free ports on 127.0.0.1, and killed with their process trees when the tests end. Tests
/// share them, so each uses its own stream and table names (<see cref="UniqueName"/>).
/// Needs node on PATH and the packages installed by Tests/Emulators/install.sh.
/// </summary>
public sealed class EmulatorHost : IAsyncLifetime
{
    public const string Region = "us-east-1";

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(45);

    private EmulatorProcess? _kinesis;
    private EmulatorProcess? _dynamoDb;

    /// <summary>Any non-empty key works with the emulators.</summary>
    public static AWSCredentials Credentials { get; } = new BasicAWSCredentials("test", "test");

    /// <summary>kinesis-mock's plain HTTP endpoint (its TLS port is bound too, but unused).</summary>
    public Uri KinesisUrl => (_kinesis ?? throw NotStarted()).Url;

    public Uri DynamoDbUrl => (_dynamoDb ?? throw NotStarted()).Url;

    public IReadOnlyList<int> Ports => [.. _kinesis?.Ports ?? [], .. _dynamoDb?.Ports ?? []];

    /// <summary>A stream or table name no other test uses: [a-zA-Z0-9_.-], well within the 128-character limits.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    public async Task InitializeAsync()
    {
        var kinesis = EmulatorProcess.StartAsync("kinesis-mock", 2, ports => KinesisMockStartInfo(ports[0], ports[1]), ReadyTimeout);
        var dynamoDb = EmulatorProcess.StartAsync("dynalite", 1, ports => DynaliteStartInfo(ports[0]), ReadyTimeout);

        // Started side by side: each takes a couple of seconds, mostly node loading code.
        try
        {
            await Task.WhenAll(kinesis, dynamoDb);
        }
        catch
        {
            // The fields stay unset when the start fails, so stop here whichever emulator did start.
            foreach (var started in new[] { kinesis, dynamoDb }.Where(t => t.IsCompletedSuccessfully))
            {
                await started.Result.DisposeAsync();
            }

            throw;
        }

        _kinesis = kinesis.Result;
        _dynamoDb = dynamoDb.Result;
    }

    /// <summary>kinesis-mock on a plain HTTP port and a TLS port (it always opens both).</summary>
    /// <param name="initializeStreams">Streams to create at start, as "name:shards,name:shards"; they are ACTIVE about 0.5 s later.</param>
    internal static ProcessStartInfo KinesisMockStartInfo(int plainPort, int tlsPort, string? initializeStreams = null)
    {
        var folder = LocateEmulatorsFolder();
        // kinesis-mock reads server.json (its TLS certificate) from the working directory.
        var start = NodeStartInfo(RequireInstalled(folder, "kinesis-local", "main.js"));
        foreach (var argument in new[] { "--require", Path.Combine(folder, "exit-with-parent.cjs"), "--require", Path.Combine(folder, "loopback-only.cjs"), "main.js" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["KINESIS_MOCK_PLAIN_PORT"] = plainPort.ToString(CultureInfo.InvariantCulture);
        start.Environment["KINESIS_MOCK_TLS_PORT"] = tlsPort.ToString(CultureInfo.InvariantCulture);
        // Pinned so that nothing in the machine's environment changes the emulator under the tests.
        start.Environment["AWS_REGION"] = Region;
        start.Environment["LOG_LEVEL"] = "WARN";
        start.Environment["SHOULD_PERSIST_DATA"] = "false";
        start.Environment["LOAD_DATA_IF_EXISTS"] = "false";
        // Every test's streams count against one account's limit (50 shards by default).
        start.Environment["SHARD_LIMIT"] = "1000";
        if (initializeStreams is not null)
        {
            start.Environment["INITIALIZE_STREAMS"] = initializeStreams;
        }

        return start;
    }

    /// <summary>dynalite in memory, bound to loopback.</summary>
    internal static ProcessStartInfo DynaliteStartInfo(int port)
    {
        var folder = LocateEmulatorsFolder();
        var start = NodeStartInfo(RequireInstalled(folder, "dynalite", "cli.js"));
        foreach (var argument in new[] { "--require", Path.Combine(folder, "exit-with-parent.cjs"), "cli.js", "--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    internal static string LocateEmulatorsFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "Tests", "Emulators");
            if (File.Exists(Path.Combine(candidate, "package.json")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"Tests/Emulators was not found above {AppContext.BaseDirectory}.");
    }

    public async Task DisposeAsync()
    {
        if (_kinesis is not null)
        {
            await _kinesis.DisposeAsync();
        }

        if (_dynamoDb is not null)
        {
            await _dynamoDb.DisposeAsync();
        }
    }

    public KinesisClient CreateKinesisClient(Action<KinesisClientOptions>? configure = null)
    {
        var options = new KinesisClientOptions { ServiceUrl = KinesisUrl.ToString(), Region = Region };
        configure?.Invoke(options);
        return new KinesisClient(options, Credentials);
    }

    public AmazonDynamoDBClient CreateDynamoDbClient() =>
        new(Credentials, new AmazonDynamoDBConfig { ServiceURL = DynamoDbUrl.ToString(), AuthenticationRegion = Region });

    /// <summary>What kinesis-mock printed last: attach to a failure message when it misbehaves.</summary>
    public string KinesisOutput => _kinesis?.OutputTail ?? "";

    private static InvalidOperationException NotStarted() => new("The emulators are not running.");

    private static ProcessStartInfo NodeStartInfo(string workingDirectory)
    {
        var node = FindOnPath("node")
            ?? throw new InvalidOperationException("node is not on PATH. The AWS tests run kinesis-mock and dynalite under Node.js: install node and npm, then run Tests/Emulators/install.sh.");
        return new ProcessStartInfo(node) { WorkingDirectory = workingDirectory };
    }

    private static string RequireInstalled(string folder, string package, string entryPoint)
    {
        var packageFolder = Path.Combine(folder, "node_modules", package);
        return File.Exists(Path.Combine(packageFolder, entryPoint))
            ? packageFolder
            : throw new InvalidOperationException($"{package} is not installed in {Path.Combine(folder, "node_modules")}. Run Tests/Emulators/install.sh (it needs node and npm).");
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}

/// <summary>The tests that use the emulators; they run one after another, on one pair of emulators.</summary>
[CollectionDefinition(Name)]
public sealed class EmulatorCollection : ICollectionFixture<EmulatorHost>
{
    public const string Name = "AWS emulators";
}
