using Analytics.Runtime.Hosting;
using Analytics.Runtime.Streaming;
using Analytics.Runtime.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Analytics.Runtime.Tests;

internal static class Clusters
{
    /// <summary>A cluster with memory storage named "store", memory streams named "numbers", and the test services.</summary>
    public static Task<TestCluster> StartAsync(int silos = 2, Action<ISiloBuilder>? configure = null, Action<IServiceCollection>? services = null, ActivationLedger? ledger = null, TimeSpan? responseTimeout = null, int queueCount = 4) =>
        TestCluster.StartAsync(new TestClusterOptions
        {
            InitialSilos = silos,
            ResponseTimeout = responseTimeout ?? TimeSpan.FromSeconds(30),
            ConfigureServices = s =>
            {
                s.AddSingleton(ledger ?? new ActivationLedger());
                services?.Invoke(s);
            },
            ConfigureSilo = silo =>
            {
                silo.AddMemoryGrainStorage("store");
                silo.AddMemoryStreams("numbers", queueCount, o =>
                {
                    o.PollInterval = TimeSpan.FromMilliseconds(10);
                    o.CheckpointInterval = TimeSpan.FromMilliseconds(200);
                });
                configure?.Invoke(silo);
            },
        });

    public static async Task Eventually(Func<Task<bool>> condition, TimeSpan? timeout = null, string? because = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"Condition not met in time: {because}");
            }

            await Task.Delay(25);
        }
    }
}
