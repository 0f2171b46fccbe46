using Amazon.CDK;
using Amazon.CDK.AWS.CertificateManager;
using Amazon.CDK.AWS.EC2;
using Amazon.CDK.AWS.ECR;
using Amazon.CDK.AWS.ECS;
using Amazon.CDK.AWS.ElasticLoadBalancingV2;
using Amazon.CDK.AWS.Logs;
using Constructs;
using EcsProtocol = Amazon.CDK.AWS.ECS.Protocol;
using HealthCheck = Amazon.CDK.AWS.ElasticLoadBalancingV2.HealthCheck;

namespace Analytics.Deploy.Components;

/// <summary>
/// The silos: an ECS Fargate service in the private subnets of all three zones, behind an
/// Application Load Balancer for the HTTP API. Silo-to-silo and gateway traffic stays inside the
/// silos' own security group.
/// </summary>
public sealed class SiloService : Construct
{
    public SiloService(Construct scope, string id, DeployParameters parameters, Network network, DataStores data, string repositoryRoot)
        : base(scope, id)
    {
        var clusterId = parameters.ResourcePrefix.TrimEnd('-');
        Cluster = new Cluster(this, "Cluster", new ClusterProps { ClusterName = clusterId, Vpc = network.Vpc });

        LogGroup = new LogGroup(this, "Logs", new LogGroupProps
        {
            LogGroupName = $"/analytics/{parameters.Environment}/silo",
            Retention = parameters.LogRetention,
            // Unlike the data, logs go with the stack: a retained group of this name would make the
            // next deploy of the environment fail. Their retention already bounds their life.
            RemovalPolicy = RemovalPolicy.DESTROY,
        });

        TaskDefinition = new FargateTaskDefinition(this, "Task", new FargateTaskDefinitionProps
        {
            Family = clusterId + "-silo",
            Cpu = parameters.TaskCpu,
            MemoryLimitMiB = parameters.TaskMemoryMiB,
            RuntimePlatform = new RuntimePlatform { CpuArchitecture = CpuArchitecture.X86_64, OperatingSystemFamily = OperatingSystemFamily.LINUX },
        });
        Container = TaskDefinition.AddContainer("Silo", new ContainerDefinitionOptions
        {
            ContainerName = "silo",
            Image = Image(parameters, repositoryRoot),
            Environment = SiloSettings.Environment(data, clusterId),
            Logging = LogDriver.AwsLogs(new AwsLogDriverProps { LogGroup = LogGroup, StreamPrefix = "silo" }),
            PortMappings =
            [
                new PortMapping { ContainerPort = SiloSettings.HttpPort, Protocol = EcsProtocol.TCP, Name = "http" },
                new PortMapping { ContainerPort = SiloSettings.SiloPort, Protocol = EcsProtocol.TCP, Name = "silo" },
                new PortMapping { ContainerPort = SiloSettings.GatewayPort, Protocol = EcsProtocol.TCP, Name = "gateway" },
            ],
            StopTimeout = SiloSettings.ContainerStopTimeout,
        });
        new SiloTaskPolicy(this, "TaskPolicy", TaskDefinition.TaskRole, data);

        // Egress is HTTPS only (AWS APIs, ECR, CloudWatch Logs, through NAT or the gateway
        // endpoints) plus the silo ports to other silos, added below with the ingress rules.
        SecurityGroup = new SecurityGroup(this, "SiloSecurityGroup", new SecurityGroupProps
        {
            Vpc = network.Vpc,
            Description = "Silos: silo and gateway ports from other silos only; HTTP from the load balancer and other silos",
            AllowAllOutbound = false,
        });
        SecurityGroup.AddEgressRule(Peer.AnyIpv4(), Port.Tcp(443), "AWS APIs and ECR over HTTPS");
        // Silo-to-silo calls, cluster-client gateway, and /api/cluster/self (peers fetch each other's figures).
        SecurityGroup.Connections.AllowInternally(Port.Tcp(SiloSettings.SiloPort), "silo to silo");
        SecurityGroup.Connections.AllowInternally(Port.Tcp(SiloSettings.GatewayPort), "gateway, between silos only");
        SecurityGroup.Connections.AllowInternally(Port.Tcp(SiloSettings.HttpPort), "silo to silo HTTP (/api/cluster/self)");

        Service = new FargateService(this, "Service", new FargateServiceProps
        {
            ServiceName = clusterId + "-silo",
            Cluster = Cluster,
            TaskDefinition = TaskDefinition,
            DesiredCount = parameters.MinTasks,
            // A deployment starts at most half as many new tasks again at once (one of three), and
            // stops an old one only when a new one is healthy: shards move a few at a time.
            MinHealthyPercent = 100,
            MaxHealthyPercent = 150,
            CircuitBreaker = new DeploymentCircuitBreaker { Rollback = true },
            VpcSubnets = network.SiloSubnetSelection,
            SecurityGroups = [SecurityGroup],
            AssignPublicIp = false,
            PlatformVersion = FargatePlatformVersion.LATEST,
            // A silo is ready once it has joined the cluster; give it time to load before health checks count.
            HealthCheckGracePeriod = Duration.Seconds(60),
        });
        // Fargate spreads a service's tasks evenly over the zones of its subnets; with rebalancing,
        // ECS also moves tasks back after a zone recovers (a property newer than this CDK release).
        ((CfnService)Service.Node.DefaultChild!).AddPropertyOverride("AvailabilityZoneRebalancing", "ENABLED");

        (LoadBalancer, TargetGroup) = AddLoadBalancer(parameters, network);
    }

    public Cluster Cluster { get; }

    public FargateTaskDefinition TaskDefinition { get; }

    public ContainerDefinition Container { get; }

    public FargateService Service { get; }

    public SecurityGroup SecurityGroup { get; }

    public LogGroup LogGroup { get; }

    public ApplicationLoadBalancer LoadBalancer { get; }

    public ApplicationTargetGroup TargetGroup { get; }

    private (ApplicationLoadBalancer, ApplicationTargetGroup) AddLoadBalancer(DeployParameters parameters, Network network)
    {
        var albSecurityGroup = new SecurityGroup(this, "LoadBalancerSecurityGroup", new SecurityGroupProps
        {
            Vpc = network.Vpc,
            Description = "Load balancer of the silos' HTTP API",
            AllowAllOutbound = false,
        });
        var alb = new ApplicationLoadBalancer(this, "LoadBalancer", new ApplicationLoadBalancerProps
        {
            Vpc = network.Vpc,
            InternetFacing = true,
            VpcSubnets = network.PublicSubnetSelection,
            SecurityGroup = albSecurityGroup,
        });

        var targetGroup = new ApplicationTargetGroup(this, "Api", new ApplicationTargetGroupProps
        {
            Vpc = network.Vpc,
            Port = SiloSettings.HttpPort,
            Protocol = ApplicationProtocol.HTTP,
            TargetType = TargetType.IP,
            // Requests are short; a stopping task leaves the target group within this before SIGTERM.
            DeregistrationDelay = Duration.Seconds(30),
            HealthCheck = new HealthCheck
            {
                // Ready means joined the cluster: only then does a silo answer every query.
                Path = "/health/ready",
                HealthyHttpCodes = "200",
                Interval = Duration.Seconds(10),
                Timeout = Duration.Seconds(5),
                HealthyThresholdCount = 2,
                UnhealthyThresholdCount = 3,
            },
        });
        Service.AttachToApplicationTargetGroup(targetGroup);

        if (parameters.CertificateArn is { } certificateArn)
        {
            alb.AddListener("Https", new BaseApplicationListenerProps
            {
                Port = 443,
                Protocol = ApplicationProtocol.HTTPS,
                Certificates = [ListenerCertificate.FromArn(certificateArn)],
                SslPolicy = SslPolicy.RECOMMENDED_TLS,
                DefaultTargetGroups = [targetGroup],
                Open = false,
            });
            alb.AddRedirect(new ApplicationLoadBalancerRedirectConfig { SourcePort = 80, TargetPort = 443, Open = false });
            albSecurityGroup.AddIngressRule(Peer.Ipv4(parameters.AllowedCidr), Port.Tcp(443), "HTTPS API");
        }
        else
        {
            alb.AddListener("Http", new BaseApplicationListenerProps
            {
                Port = 80,
                Protocol = ApplicationProtocol.HTTP,
                DefaultTargetGroups = [targetGroup],
                Open = false,
            });
        }

        // Attaching the service to the target group (above) opens the silos' HTTP port to the load
        // balancer's security group, and nothing else of theirs.
        albSecurityGroup.AddIngressRule(Peer.Ipv4(parameters.AllowedCidr), Port.Tcp(80), parameters.CertificateArn is null ? "HTTP API" : "HTTP, redirected to HTTPS");
        return (alb, targetGroup);
    }

    /// <summary>A pushed ECR image when imageRepository and imageTag are given; otherwise deploy/Dockerfile, built and pushed by <c>cdk deploy</c>.</summary>
    private ContainerImage Image(DeployParameters parameters, string repositoryRoot) =>
        parameters.ImageRepository is { } repository
            ? ContainerImage.FromEcrRepository(Repository.FromRepositoryName(this, "ImageRepository", repository), parameters.ImageTag)
            : ContainerImage.FromAsset(repositoryRoot, new AssetImageProps
            {
                File = "deploy/Dockerfile",
                Platform = Amazon.CDK.AWS.Ecr.Assets.Platform_.LINUX_AMD64,
            });
}
