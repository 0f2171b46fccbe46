using System.Text.Json.Nodes;
using Amazon.CDK.Assertions;

namespace Analytics.Deploy.Tests;

[Collection(StackCollection.Name)]
public sealed class NetworkTests(DefaultStack stack)
{
    [Fact]
    public void The_VPC_has_public_and_private_subnets_in_three_availability_zones()
    {
        stack.Template.ResourceCountIs("AWS::EC2::VPC", 1);
        var subnets = stack.Resources("AWS::EC2::Subnet").Values.Select(s => s["Properties"]!.AsObject()).ToList();
        var publicSubnets = subnets.Where(s => (bool?)s["MapPublicIpOnLaunch"] == true).ToList();
        var privateSubnets = subnets.Where(s => (bool?)s["MapPublicIpOnLaunch"] != true).ToList();
        Assert.Equal(3, publicSubnets.Count);
        Assert.Equal(3, privateSubnets.Count);
        // CloudFormation picks the region's first three zones: Fn::Select 0, 1 and 2 of Fn::GetAZs.
        foreach (var group in new[] { publicSubnets, privateSubnets })
        {
            Assert.Equal([0, 1, 2], group.Select(ZoneIndex).Order());
        }
    }

    [Fact]
    public void The_private_subnets_reach_AWS_through_a_NAT_gateway_in_their_own_zone()
    {
        stack.Template.ResourceCountIs("AWS::EC2::NatGateway", 3);
        var routes = stack.Resources("AWS::EC2::Route").Values.Select(r => r["Properties"]!.AsObject()).ToList();
        Assert.Equal(3, routes.Count(r => r["NatGatewayId"] is not null && (string?)r["DestinationCidrBlock"] == "0.0.0.0/0"));
        Assert.Equal(3, routes.Count(r => r["GatewayId"] is not null && (string?)r["DestinationCidrBlock"] == "0.0.0.0/0"));
    }

    [Fact]
    public void DynamoDB_and_S3_are_reached_through_gateway_endpoints()
    {
        var services = stack.Resources("AWS::EC2::VPCEndpoint").Values
            .Select(e => e["Properties"]!["ServiceName"]!.ToJsonString())
            .ToList();
        Assert.Equal(2, services.Count);
        Assert.Contains(services, s => s.Contains(".dynamodb", StringComparison.Ordinal));
        Assert.Contains(services, s => s.Contains(".s3", StringComparison.Ordinal));
        stack.Template.AllResourcesProperties("AWS::EC2::VPCEndpoint", new Dictionary<string, object> { ["VpcEndpointType"] = "Gateway" });
    }

    [Fact]
    public void The_stack_asks_for_three_zones_although_it_is_environment_agnostic()
    {
        Assert.Equal(3, stack.Stack.Network.Vpc.AvailabilityZones.Length);
        Assert.Equal(3, stack.Stack.Network.Vpc.SelectSubnets(stack.Stack.Network.SiloSubnetSelection).SubnetIds.Length);
        // One template for any account and region: deployed where the CLI's credentials point.
        Assert.Equal("aws://unknown-account/unknown-region", stack.Stack.Environment);
    }

    private static int ZoneIndex(JsonObject subnet)
    {
        var select = subnet["AvailabilityZone"]!["Fn::Select"]!.AsArray();
        Assert.Equal(new JsonObject { ["Fn::GetAZs"] = "" }.ToJsonString(), select[1]!.ToJsonString());
        return (int)select[0]!;
    }
}
