using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Hosting;

/// <summary>The silo's identity and endpoints.</summary>
public sealed class SiloOptions
{
    /// <summary>Silos with the same cluster id form one cluster.</summary>
    public string ClusterId { get; set; } = "dev";

    public string SiloName { get; set; } = Environment.MachineName;

    /// <summary>The address other silos and clients use to reach this one.</summary>
    public string AdvertisedHost { get; set; } = "127.0.0.1";

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>Availability zone, shown in membership and on the dashboard.</summary>
    public string? Zone { get; set; }

    /// <summary>Other endpoints this silo serves (say "http"), published in its membership row for peers and dashboards.</summary>
    public Dictionary<string, string> Endpoints { get; } = new(StringComparer.Ordinal);
}

internal sealed class SiloOptionsValidator : IValidateOptions<SiloOptions>
{
    public ValidateOptionsResult Validate(string? name, SiloOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ClusterId))
        {
            errors.Add("Cluster:Id must not be empty.");
        }

        if (options.SiloPort is < 0 or > 65535 || options.GatewayPort is < 0 or > 65535)
        {
            errors.Add($"Ports must be between 0 and 65535 (Silo:Port={options.SiloPort}, Gateway:Port={options.GatewayPort}).");
        }

        if (string.IsNullOrWhiteSpace(options.AdvertisedHost))
        {
            errors.Add("AdvertisedHost must not be empty.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>This silo's address, fixed when the silo is built; the generation makes it unique per start.</summary>
public sealed class LocalSiloDetails
{
    private static long s_lastGeneration;

    public LocalSiloDetails(IOptions<SiloOptions> options, TimeProvider timeProvider)
    {
        var value = options.Value;
        // Unique even for silos started in the same tick in one process (test clusters).
        var generation = timeProvider.GetUtcNow().UtcTicks;
        long last;
        do
        {
            last = Interlocked.Read(ref s_lastGeneration);
            generation = Math.Max(generation, last + 1);
        }
        while (Interlocked.CompareExchange(ref s_lastGeneration, generation, last) != last);

        SiloAddress = new Membership.SiloAddress(value.AdvertisedHost, value.SiloPort, generation);
        Name = value.SiloName;
        Zone = value.Zone;
        ClusterId = value.ClusterId;
        var endpoints = new Dictionary<string, string>(value.Endpoints, StringComparer.Ordinal);
        if (value.GatewayPort > 0)
        {
            endpoints.TryAdd("gateway", $"{value.AdvertisedHost}:{value.GatewayPort}");
        }

        Endpoints = endpoints;
    }

    public Membership.SiloAddress SiloAddress { get; }

    public string Name { get; }

    public string? Zone { get; }

    public string ClusterId { get; }

    /// <summary>What the silo publishes in its membership row besides its silo address.</summary>
    public IReadOnlyDictionary<string, string> Endpoints { get; }
}
