using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit.Abstractions;

namespace Analytics.Deploy.Tests;

/// <summary>
/// The silo's image. This machine has a docker client but no engine, so the Dockerfile is checked
/// statically: two stages on the .NET 10 images, a non-root user, the silo as the entry point, and
/// every project the silo builds from copied in, before the restore, from a build context that
/// holds it (the context CDK stages for <c>cdk deploy</c>, after .dockerignore). With an engine
/// that answers, the image is built too.
/// </summary>
[Collection(StackCollection.Name)]
public sealed partial class DockerfileTests(DefaultStack stack, ITestOutputHelper output)
{
    private static readonly string Root = RepositoryRoot.Find();
    private static readonly List<Instruction> Instructions = Parse(File.ReadAllText(Path.Combine(Root, RepositoryRoot.Dockerfile)));

    [Fact]
    public void It_builds_on_the_dotnet_10_SDK_and_runs_on_the_ASP_NET_10_runtime()
    {
        var stages = Instructions.Where(i => i.Name == "FROM").Select(i => i.Arguments).ToList();
        Assert.Equal(["mcr.microsoft.com/dotnet/sdk:10.0 AS build", "mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime"], stages);
        // The runtime stage takes only the published output, not the SDK's layers or the sources.
        var runtime = FinalStage();
        Assert.Equal(["--from=build /app ./"], runtime.Where(i => i.Name == "COPY").Select(i => i.Arguments));
        Assert.Contains(BuildStage(), i => i.Name == "RUN" && i.Arguments.StartsWith("dotnet publish Silo/Silo.csproj -c Release", StringComparison.Ordinal) && i.Arguments.Contains("-o /app", StringComparison.Ordinal));
    }

    [Fact]
    public void It_runs_as_a_non_root_user()
    {
        var user = Assert.Single(FinalStage(), i => i.Name == "USER").Arguments;
        // $APP_UID is the unprivileged user (1654) the .NET images define.
        Assert.Equal("$APP_UID", user);
        Assert.DoesNotMatch("^(root|0)(:.*)?$", user);
        // Embedded mode's data folder is one that user owns (AWS mode writes nothing locally).
        Assert.Contains(FinalStage(), i => i.Name == "RUN" && i.Arguments == "mkdir /data && chown $APP_UID /data");
        Assert.Contains(FinalStage(), i => i.Name == "ENV" && i.Arguments == "Embedded__DataPath=/data");
        // Nothing after it switches back.
        Assert.Equal("ENTRYPOINT", FinalStage().SkipWhile(i => i.Name != "USER").Skip(1).Single().Name);
    }

    [Fact]
    public void Its_entry_point_runs_the_silo_assembly()
    {
        var entryPoint = Assert.Single(Instructions, i => i.Name == "ENTRYPOINT");
        Assert.Same(entryPoint, FinalStage().Last());
        Assert.Equal("""["dotnet", "Analytics.Silo.dll"]""", entryPoint.Arguments);
        var assemblyName = XDocument.Load(Path.Combine(Root, "Silo", "Silo.csproj")).Descendants("AssemblyName").Single().Value;
        Assert.Equal("Analytics.Silo", assemblyName);
        Assert.Contains(FinalStage(), i => i.Name == "EXPOSE" && i.Arguments == "5080 11111 30000");
    }

    [Fact]
    public void Every_project_file_the_silo_builds_from_is_copied_before_the_restore()
    {
        var restore = BuildStage().FindIndex(i => i.Name == "RUN" && i.Arguments.StartsWith("dotnet restore", StringComparison.Ordinal));
        Assert.True(restore > 0, "the build stage restores before it copies the sources");
        var copiedBeforeRestore = CopySources(BuildStage().Take(restore)).ToList();
        foreach (var file in BuildInputs())
        {
            Assert.True(copiedBeforeRestore.Any(source => Covers(source, file)), $"{file} is not copied before `dotnet restore`");
        }
    }

    [Fact]
    public void Every_copied_path_is_in_the_build_context_cdk_stages()
    {
        var asset = JsonNode.Parse(File.ReadAllText(Path.Combine(stack.OutputDirectory, stack.Stack.StackName + ".assets.json")))!["dockerImages"]!.AsObject().Single().Value!["source"]!;
        var context = Path.Combine(stack.OutputDirectory, (string)asset["directory"]!);
        foreach (var source in CopySources(BuildStage()))
        {
            Assert.True(File.Exists(Path.Combine(context, source)) || Directory.Exists(Path.Combine(context, source)), $"COPY {source}: not in the build context (see .dockerignore)");
        }

        // And each source file of those projects, so that the build sees the same code as here.
        foreach (var project in BuildInputs().Where(f => f.EndsWith(".csproj", StringComparison.Ordinal)))
        {
            var folder = Path.GetDirectoryName(project)!;
            foreach (var file in Directory.GetFiles(Path.Combine(Root, folder), "*.cs", SearchOption.AllDirectories).Where(f => !IsBuildOutput(f)))
            {
                Assert.True(File.Exists(Path.Combine(context, Path.GetRelativePath(Root, file))), $"{Path.GetRelativePath(Root, file)} is missing from the build context");
            }

            Assert.False(Directory.Exists(Path.Combine(context, folder, "bin")) || Directory.Exists(Path.Combine(context, folder, "obj")), $"{folder}'s build output is in the build context");
        }
    }

    [Fact]
    public async Task The_image_builds_when_a_docker_engine_answers()
    {
        if (!await DockerEngineAnswersAsync())
        {
            output.WriteLine("No docker engine answers `docker info` here: the image is checked statically by the other tests of this class.");
            return;
        }

        var (exit, log) = await TestProcess.RunAsync("docker", ["build", "--file", RepositoryRoot.Dockerfile, "--tag", "analytics-silo:deploy-tests", "."], TimeSpan.FromMinutes(20));
        Assert.True(exit == 0, log);
        var (_, user) = await TestProcess.RunAsync("docker", ["image", "inspect", "--format", "{{.Config.User}}", "analytics-silo:deploy-tests"], TimeSpan.FromMinutes(1));
        Assert.DoesNotMatch("^(|root|0)(:.*)?$", user.Trim());
    }

    /// <summary>The files the silo's build reads: its project, every project it references, transitively, and the props they import.</summary>
    private static SortedSet<string> BuildInputs()
    {
        var inputs = new SortedSet<string>(StringComparer.Ordinal) { "Directory.Build.props", ".editorconfig" };
        var pending = new Stack<string>([Path.Combine("Silo", "Silo.csproj")]);
        while (pending.TryPop(out var project))
        {
            if (!inputs.Add(project.Replace('\\', '/')))
            {
                continue;
            }

            var folder = Path.GetDirectoryName(Path.Combine(Root, project))!;
            var document = XDocument.Load(Path.Combine(Root, project));
            foreach (var reference in document.Descendants("ProjectReference").Select(r => r.Attribute("Include")!.Value)
                .Concat(document.Descendants("Import").Select(i => i.Attribute("Project")!.Value)))
            {
                var path = Path.GetFullPath(Path.Combine(folder, reference.Replace("$(MSBuildThisFileDirectory)", "", StringComparison.Ordinal)));
                pending.Push(Path.GetRelativePath(Root, path));
            }
        }

        return inputs;
    }

    /// <summary>A COPY source covers a file if it is that file or a folder above it.</summary>
    private static bool Covers(string source, string file) =>
        source == file || (Directory.Exists(Path.Combine(Root, source)) && file.StartsWith(source.TrimEnd('/') + "/", StringComparison.Ordinal));

    private static bool IsBuildOutput(string path) =>
        path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
        || path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal);

    /// <summary>The source paths of COPY instructions from the build context (not <c>--from</c> another stage); the last argument is the destination.</summary>
    private static IEnumerable<string> CopySources(IEnumerable<Instruction> instructions) =>
        instructions
            .Where(i => i.Name == "COPY" && !i.Arguments.StartsWith("--from", StringComparison.Ordinal))
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1]);

    private static List<Instruction> BuildStage() => Instructions.SkipWhile(i => i.Name != "FROM").Skip(1).TakeWhile(i => i.Name != "FROM").ToList();

    private static List<Instruction> FinalStage() => Instructions.Skip(Instructions.FindLastIndex(i => i.Name == "FROM") + 1).ToList();

    private static List<Instruction> Parse(string dockerfile) =>
        ContinuedLine().Replace(dockerfile, " ")
            .Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split(' ', 2) is [var name, var arguments] ? new Instruction(name.ToUpperInvariant(), arguments.Trim()) : new Instruction(line.ToUpperInvariant(), ""))
            .ToList();

    private static async Task<bool> DockerEngineAnswersAsync()
    {
        try
        {
            return (await TestProcess.RunAsync("docker", ["info", "--format", "{{.ServerVersion}}"], TimeSpan.FromSeconds(15))).Exit == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false; // No docker client at all.
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private sealed record Instruction(string Name, string Arguments);

    [GeneratedRegex(@"\\\r?\n")]
    private static partial Regex ContinuedLine();
}
