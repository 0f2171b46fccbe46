using System.Text.Json.Nodes;

namespace Analytics.Deploy.Tests;

/// <summary>
/// Every security-group rule of the stack. The silo and gateway ports are open only between the
/// silos' group and itself; the load balancer reaches the HTTP port and nothing else.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class SecurityGroupTests(DefaultStack stack)
{
    [Fact]
    public void The_stack_has_two_security_groups()
    {
        Assert.Equal([AlbGroup, SiloGroup], stack.Resources("AWS::EC2::SecurityGroup").Keys.Order());
    }

    [Fact]
    public void Silo_and_gateway_ports_are_open_only_from_the_silos_own_group_and_HTTP_also_from_the_load_balancer()
    {
        Assert.Equal(
            [$"5080 from {AlbGroup}", $"5080 from {SiloGroup}", $"11111 from {SiloGroup}", $"30000 from {SiloGroup}"],
            Rules(SiloGroup, ingress: true));
    }

    [Fact]
    public void Silos_send_only_HTTPS_to_AWS_and_the_silo_ports_to_other_silos()
    {
        Assert.Equal(
            ["443 to 0.0.0.0/0", $"5080 to {SiloGroup}", $"11111 to {SiloGroup}", $"30000 to {SiloGroup}"],
            Rules(SiloGroup, ingress: false));
    }

    [Fact]
    public void The_load_balancer_takes_HTTP_from_the_allowed_range_and_sends_only_to_the_silos_HTTP_port()
    {
        Assert.Equal(["80 from 0.0.0.0/0"], Rules(AlbGroup, ingress: true));
        Assert.Equal([$"5080 to {SiloGroup}"], Rules(AlbGroup, ingress: false));
    }

    private string SiloGroup => stack.LogicalId(stack.Stack.Silos.SecurityGroup);

    private string AlbGroup => stack.Resources("AWS::EC2::SecurityGroup").Keys.Single(k => k != SiloGroup);

    /// <summary>A group's rules, inline and as separate resources, as "port from/to peer" (every rule here is TCP with one port).</summary>
    internal static List<string> Rules(SynthesizedStack stack, string group, bool ingress)
    {
        var inline = stack.Properties(group)[ingress ? "SecurityGroupIngress" : "SecurityGroupEgress"]?.AsArray().Select(r => r!.AsObject()) ?? [];
        var separate = stack.Resources(ingress ? "AWS::EC2::SecurityGroupIngress" : "AWS::EC2::SecurityGroupEgress").Values
            .Select(r => r["Properties"]!.AsObject())
            .Where(r => JsonNode.DeepEquals(r["GroupId"], SynthesizedStack.GetAtt(group, "GroupId")));
        return inline.Concat(separate).Select(rule =>
        {
            Assert.Equal("tcp", (string?)rule["IpProtocol"]);
            Assert.Equal((int)rule["FromPort"]!, (int)rule["ToPort"]!);
            var peer = (string?)rule["CidrIp"]
                ?? (string?)(rule[ingress ? "SourceSecurityGroupId" : "DestinationSecurityGroupId"]?["Fn::GetAtt"]?[0])
                ?? throw new InvalidOperationException($"a rule with an unexpected peer: {rule.ToJsonString()}");
            return $"{(int)rule["FromPort"]!} {(ingress ? "from" : "to")} {peer}";
        }).Order(StringComparer.Ordinal).ToList();
    }

    private List<string> Rules(string group, bool ingress) =>
        Rules(stack, group, ingress).OrderBy(r => int.Parse(r.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)).ThenBy(r => r, StringComparer.Ordinal).ToList();
}
