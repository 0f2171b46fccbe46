using System.Diagnostics;
using System.Text.Json.Nodes;
using Amazon.CDK;
using Amazon.CDK.Assertions;
using Constructs;

namespace Analytics.Deploy.Tests;

/// <summary>
/// The stack synthesised once, in-process, as <c>dotnet run --project deploy</c> does: the
/// <see cref="Template"/> for Amazon.CDK.Assertions, and the same template as JSON for the checks
/// that look at every resource at once (no wildcard anywhere, every security-group rule).
/// </summary>
public abstract class SynthesizedStack : IDisposable
{
    private readonly string _outdir = Path.Combine(Path.GetTempPath(), "deploy-tests-" + Guid.NewGuid().ToString("N"));

    protected SynthesizedStack(IDictionary<string, object> context)
    {
        RequireNode();
        var app = new App(new AppProps { Outdir = _outdir, Context = context });
        Stack = new AnalyticsStack(app, DeployParameters.FromContext(app.Node.TryGetContext), RepositoryRoot.Find());
        app.Synth();
        Template = Template.FromStack(Stack);
        Json = JsonNode.Parse(File.ReadAllText(Path.Combine(_outdir, Stack.TemplateFile)))!.AsObject();
    }

    public AnalyticsStack Stack { get; }

    public Template Template { get; }

    public JsonObject Json { get; }

    public string OutputDirectory => _outdir;

    /// <summary>Every resource of a CloudFormation type, by logical id.</summary>
    public IReadOnlyDictionary<string, JsonObject> Resources(string type) =>
        Json["Resources"]!.AsObject()
            .Where(r => (string?)r.Value!["Type"] == type)
            .ToDictionary(r => r.Key, r => r.Value!.AsObject());

    public JsonObject Properties(string logicalId) => Json["Resources"]![logicalId]!["Properties"]!.AsObject();

    /// <summary>The logical id of a construct's CloudFormation resource.</summary>
    public string LogicalId(IConstruct construct) => Stack.GetLogicalId((CfnElement)construct.Node.DefaultChild!);

    public static JsonNode Ref(string logicalId) => new JsonObject { ["Ref"] = logicalId };

    public static JsonNode GetAtt(string logicalId, string attribute) => new JsonObject { ["Fn::GetAtt"] = new JsonArray(logicalId, attribute) };

    public void Dispose()
    {
        if (Directory.Exists(_outdir))
        {
            Directory.Delete(_outdir, recursive: true);
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>jsii runs the CDK in node: say how to get it rather than fail somewhere inside jsii.</summary>
    private static void RequireNode()
    {
        try
        {
            using var node = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true })!;
            node.WaitForExit();
            if (node.ExitCode == 0)
            {
                return;
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Not on PATH.
        }

        throw new InvalidOperationException("node (18 or later) is not on PATH: the CDK runs in node through jsii. Run deploy/install.sh.");
    }
}

/// <summary>The stack with every parameter at its default, as a bare <c>cdk deploy</c> makes it.</summary>
public sealed class DefaultStack() : SynthesizedStack(new Dictionary<string, object>());

/// <summary>A second environment with every parameter set, to check that each one reaches the template.</summary>
public sealed class CustomizedStack() : SynthesizedStack(Context)
{
    public const string TopicArn = "arn:aws:sns:eu-west-1:123456789012:ops-pager";
    public const string CertificateArn = "arn:aws:acm:eu-west-1:123456789012:certificate/0b9d1c2e-1111-2222-3333-444455556666";

    public static readonly Dictionary<string, object> Context = new()
    {
        ["environment"] = "staging",
        ["shardCount"] = "12",
        ["minTasks"] = "4",
        ["maxTasks"] = "10",
        ["taskCpu"] = "2048",
        ["taskMemory"] = "8192",
        ["imageRepository"] = "analytics-silo",
        ["imageTag"] = "1.4.2",
        ["alarmTopicArn"] = TopicArn,
        ["certificateArn"] = CertificateArn,
        ["allowedCidr"] = "203.0.113.0/24",
        ["natGateways"] = "1",
        ["logRetentionDays"] = "90",
        ["iteratorAgeAlarmMs"] = "120000",
        ["http5xxAlarmPercent"] = "2.5",
    };
}

/// <summary>
/// One collection for every test that talks to the CDK: each stack is synthesised once for all of
/// them, and jsii's single node process is used by one test at a time.
/// </summary>
[CollectionDefinition(Name)]
public sealed class StackCollection : ICollectionFixture<DefaultStack>, ICollectionFixture<CustomizedStack>
{
    public const string Name = "synthesised stacks";
}
