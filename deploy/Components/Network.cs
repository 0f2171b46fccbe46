using Amazon.CDK.AWS.EC2;
using Constructs;

namespace Analytics.Deploy.Components;

/// <summary>
/// A VPC over three availability zones: public subnets for the load balancer and the NAT
/// gateways, private subnets for the silos. DynamoDB and S3 (ECR's image layers) are reached
/// through free gateway endpoints, so the heaviest traffic, grain-state writes, does not pay NAT
/// data processing.
/// </summary>
public sealed class Network : Construct
{
    public const string PublicSubnets = "public";
    public const string SiloSubnets = "silos";

    public Network(Construct scope, string id, DeployParameters parameters)
        : base(scope, id)
    {
        Vpc = new Vpc(this, "Vpc", new VpcProps
        {
            IpAddresses = IpAddresses.Cidr("10.40.0.0/16"),
            MaxAzs = 3,
            NatGateways = parameters.NatGateways,
            SubnetConfiguration =
            [
                new SubnetConfiguration { Name = PublicSubnets, SubnetType = SubnetType.PUBLIC, CidrMask = 24 },
                new SubnetConfiguration { Name = SiloSubnets, SubnetType = SubnetType.PRIVATE_WITH_EGRESS, CidrMask = 20 },
            ],
            GatewayEndpoints = new Dictionary<string, IGatewayVpcEndpointOptions>
            {
                ["DynamoDB"] = new GatewayVpcEndpointOptions { Service = GatewayVpcEndpointAwsService.DYNAMODB },
                ["S3"] = new GatewayVpcEndpointOptions { Service = GatewayVpcEndpointAwsService.S3 },
            },
        });
    }

    public Vpc Vpc { get; }

    public SubnetSelection SiloSubnetSelection => new() { SubnetGroupName = SiloSubnets };

    public SubnetSelection PublicSubnetSelection => new() { SubnetGroupName = PublicSubnets };
}
