using System.Text.Json.Nodes;

namespace Analytics.Deploy.Tests;

/// <summary>
/// The app as an operator runs it (<c>dotnet run --project deploy</c>, or <c>cdk synth</c> through
/// cdk.json): a separate process, which writes the templates into deploy/cdk.out or $CDK_OUTDIR.
/// </summary>
public sealed class ProgramTests : IDisposable
{
    private readonly string _outdir = Path.Combine(Path.GetTempPath(), "deploy-program-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_outdir))
        {
            Directory.Delete(_outdir, recursive: true);
        }
    }

    [Fact]
    public async Task It_synthesises_into_CDK_OUTDIR_with_parameters_given_as_context_arguments()
    {
        var (exit, output) = await RunAsync(new() { ["CDK_OUTDIR"] = _outdir }, "-c", "environment=loadtest", "-c", "shardCount=2");

        Assert.True(exit == 0, output);
        var template = JsonNode.Parse(File.ReadAllText(Path.Combine(_outdir, "Analytics-loadtest.template.json")))!;
        var stream = template["Resources"]!.AsObject().Single(r => (string?)r.Value!["Type"] == "AWS::Kinesis::Stream").Value!;
        Assert.Equal(2, (int)stream["Properties"]!["ShardCount"]!);
        Assert.True(File.Exists(Path.Combine(_outdir, "manifest.json")));
        Assert.Contains($"synthesised Analytics-loadtest into {_outdir}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_CDK_OUTDIR_it_writes_deploy_cdk_out()
    {
        var started = DateTime.UtcNow.AddSeconds(-1);

        var (exit, output) = await RunAsync(new() { ["CDK_OUTDIR"] = "" });

        Assert.True(exit == 0, output);
        var template = new FileInfo(Path.Combine(RepositoryRoot.Find(), "deploy", "cdk.out", "Analytics-prod.template.json"));
        Assert.True(template.Exists && template.LastWriteTimeUtc >= started, $"{template.FullName} was not written: {output}");
    }

    [Fact]
    public async Task A_bad_parameter_stops_it_with_the_key_and_exit_code_2()
    {
        var (exit, output) = await RunAsync(new() { ["CDK_OUTDIR"] = _outdir }, "-c", "minTasks=2");

        Assert.Equal(2, exit);
        Assert.Contains("error: context 'minTasks': 2 must be at least 3", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_outdir, "manifest.json")));
    }

    /// <summary>Runs the app built beside this test's output (deploy/bin/...), from the repository's root as `dotnet run --project deploy` does.</summary>
    private static Task<(int Exit, string Output)> RunAsync(Dictionary<string, string> environment, params string[] arguments)
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory);
        var app = Path.GetFullPath(Path.Combine(output.FullName, "../../../../../deploy/bin", output.Parent!.Name, output.Name, "Analytics.Deploy.dll"));
        Assert.True(File.Exists(app), $"the CDK app was not built at {app}");
        return TestProcess.RunAsync("dotnet", [app, .. arguments], TimeSpan.FromMinutes(2), environment);
    }
}
