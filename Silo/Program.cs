using Analytics.Silo.Hosting;
using Analytics.Silo.Simulation;
using Microsoft.Extensions.Options;

// One silo: the virtual-actor runtime, the analytics grains and the HTTP API, in one process.
// `dotnet run --project Silo` runs it embedded; `--simulate` also feeds it device data.
var simulate = args.Contains("--simulate");
args = args.Where(a => a != "--simulate").ToArray();

try
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddAnalyticsSilo();
    if (simulate)
    {
        builder.Services.AddSingleton(builder.Configuration.GetSection("Simulator").Get<SimulatorOptions>() ?? new SimulatorOptions());
        builder.Services.AddHostedService<DeviceSimulator>();
    }

    var app = builder.Build();
    app.UseAnalyticsApi();
    try
    {
        await app.StartAsync();
    }
    catch (Exception exception) when (exception is not OptionsValidationException)
    {
        // The silo could not start (a stream that does not exist, an endpoint that does not answer):
        // say why in one line, and exit with a code that tells it from a configuration mistake.
        await Console.Error.WriteLineAsync($"error: the silo could not start: {exception.GetBaseException().Message}");
        await app.DisposeAsync();
        return 3;
    }

    await app.WaitForShutdownAsync();
    await app.DisposeAsync();
    return 0;
}
catch (OptionsValidationException exception)
{
    // A configuration mistake: say what is wrong and stop, without a stack trace.
    await Console.Error.WriteLineAsync($"error: invalid configuration: {string.Join(" ", exception.Failures)}");
    return 2;
}

/// <summary>Lets tests start the silo in process with WebApplicationFactory-style hosting.</summary>
public partial class Program;
