using Amazon.CDK;

namespace Analytics.Deploy;

/// <summary>
/// The CDK app: <c>dotnet run --project deploy</c> (or <c>cdk synth</c>/<c>cdk deploy</c> from
/// deploy/, through cdk.json) synthesises the stack into deploy/cdk.out, or into $CDK_OUTDIR when
/// the CDK CLI sets it. Context comes from the CLI (<c>-c key=value</c>) or, when run directly,
/// from the same <c>-c key=value</c> arguments.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        try
        {
            var root = RepositoryRoot.Find();
            var app = new App(new AppProps
            {
                Outdir = System.Environment.GetEnvironmentVariable("CDK_OUTDIR") is { Length: > 0 } outdir ? outdir : Path.Combine(root, "deploy", "cdk.out"),
                Context = ContextArguments(args),
            });
            var stack = new AnalyticsStack(app, DeployParameters.FromContext(app.Node.TryGetContext), root);
            var assembly = app.Synth();
            Console.Error.WriteLine($"synthesised {stack.StackName} into {assembly.Directory}");
            return 0;
        }
        catch (ArgumentException exception)
        {
            // A parameter that cannot be used: say which, without a stack trace.
            Console.Error.WriteLine($"error: {exception.Message}");
            return 2;
        }
    }

    /// <summary><c>-c key=value</c> or <c>--context key=value</c>, as the CDK CLI takes them.</summary>
    private static Dictionary<string, object> ContextArguments(string[] args)
    {
        var context = new Dictionary<string, object>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is not ("-c" or "--context"))
            {
                throw new ArgumentException($"unknown argument '{args[i]}'; give parameters as -c key=value.");
            }

            if (i + 1 >= args.Length || args[i + 1].Split('=', 2) is not [{ Length: > 0 } key, var value])
            {
                throw new ArgumentException($"{args[i]} needs key=value.");
            }

            context[key] = value;
            i++;
        }

        return context;
    }
}
