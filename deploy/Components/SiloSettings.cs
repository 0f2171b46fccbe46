using System.Globalization;
using Amazon.CDK;

namespace Analytics.Deploy.Components;

/// <summary>
/// The silo's configuration in AWS mode, as environment variables (<c>Section__Key</c>), each one
/// taken from the resource the stack creates for it. This is the whole of it: the silo reads
/// nothing else but its task's own address and zone (Silo:AdvertisedHost, Silo:Zone), which it
/// takes from the ECS task metadata endpoint at start-up, and its credentials, which the SDK takes
/// from the task role.
/// </summary>
public static class SiloSettings
{
    public const int HttpPort = 5080;
    public const int SiloPort = 11111;
    public const int GatewayPort = 30000;

    /// <summary>
    /// How long a graceful stop may take. ECS sends SIGTERM, then SIGKILL after the container's
    /// stop timeout (<see cref="ContainerStopTimeout"/>); the silo must have checkpointed and
    /// released its shard leases by then, and its own watchdog ends it 3 s past this.
    /// </summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(25);

    public static readonly Duration ContainerStopTimeout = Duration.Seconds(40);

    public static Dictionary<string, string> Environment(DataStores data, string clusterId) => new()
    {
        // AWS mode: the stream the silo reads and POST /api/events writes.
        ["Kinesis__StreamName"] = data.Stream.StreamName,
        // The region the stack is deployed to, where the stream and the tables are.
        ["AWS__Region"] = Aws.REGION,
        // {prefix}grain-state, {prefix}membership, {prefix}leases, {prefix}dead-letters.
        ["DynamoDB__TablePrefix"] = data.TablePrefix,
        // The stack owns the tables (keys, billing, PITR, encryption); the silo only checks they exist.
        ["DynamoDB__CreateTables"] = "false",
        // Membership rows of this cluster in {prefix}membership (Orleans' own key; Cluster:Id was retired).
        ["Orleans__ClusterId"] = clusterId,
        // The ports of the target group and of the security group's rules.
        ["Http__Port"] = HttpPort.ToString(CultureInfo.InvariantCulture),
        ["Silo__Port"] = SiloPort.ToString(CultureInfo.InvariantCulture),
        ["Gateway__Port"] = GatewayPort.ToString(CultureInfo.InvariantCulture),
        ["Silo__ShutdownTimeout"] = ShutdownTimeout.ToString("c", CultureInfo.InvariantCulture),
        // One JSON object per line: one CloudWatch Logs event per log entry, queryable by field.
        ["Logging__Console__FormatterName"] = "json",
    };
}
