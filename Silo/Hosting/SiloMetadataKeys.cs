namespace Analytics.Silo.Hosting;

/// <summary>What each silo publishes about itself in Orleans' silo metadata, for /api/cluster.</summary>
internal static class SiloMetadataKeys
{
    /// <summary>The silo's HTTP base address, where peers fetch its own figures (/api/cluster/self).</summary>
    public const string Http = "analytics.http";

    /// <summary>The availability zone the silo runs in (Silo:Zone, or the ECS task metadata).</summary>
    public const string Zone = "analytics.zone";
}
