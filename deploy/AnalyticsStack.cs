using Amazon.CDK;
using Analytics.Deploy.Components;
using Constructs;

namespace Analytics.Deploy;

/// <summary>
/// The production stack: network, data, silos, scaling and alarms (one construct each, in
/// Components/), and the outputs an operator needs after <c>cdk deploy</c>.
/// </summary>
public sealed class AnalyticsStack : Stack
{
    public AnalyticsStack(Construct scope, DeployParameters parameters, string repositoryRoot)
        : base(scope, parameters.StackName, new StackProps
        {
            Description = $"Real-time analytics service, environment '{parameters.Environment}': silos on ECS Fargate over Kinesis and DynamoDB",
        })
    {
        Parameters = parameters;
        Network = new Network(this, "Network", parameters);
        Data = new DataStores(this, "Data", parameters);
        Silos = new SiloService(this, "Silos", parameters, Network, Data, repositoryRoot);
        Scaling = new Scaling(this, "Scaling", parameters, Silos.Service, Data.Stream);
        Alarms = new Alarms(this, "Alarms", parameters, Data, Silos);

        Output("ApiUrl", $"{(parameters.CertificateArn is null ? "http" : "https")}://{Silos.LoadBalancer.LoadBalancerDnsName}", "The HTTP API: POST /api/events, GET /api/metrics, /health/ready");
        Output("StreamName", Data.Stream.StreamName, "The Kinesis stream producers may also write to directly");
        Output("TablePrefix", Data.TablePrefix, "DynamoDB:TablePrefix: every table's name starts with it");
        Output("ClusterName", Silos.Cluster.ClusterName, "The ECS cluster");
        Output("ServiceName", Silos.Service.ServiceName, "The ECS service of the silos");
        Output("LogGroup", Silos.LogGroup.LogGroupName, "The silos' logs");
        Output("AlarmTopicArn", Alarms.Topic.TopicArn, "Subscribe to it to get the alarms");
    }

    public DeployParameters Parameters { get; }

    public Network Network { get; }

    public DataStores Data { get; }

    public SiloService Silos { get; }

    public Scaling Scaling { get; }

    public Alarms Alarms { get; }

    /// <summary>
    /// Three zones even though the stack is environment-agnostic (one template for any account
    /// and region). CDK would otherwise assume two, since it cannot look the region up offline;
    /// CloudFormation resolves these to the region's first three zones at deploy time.
    /// </summary>
    public override string[] AvailabilityZones => [Fn.Select(0, Fn.GetAzs()), Fn.Select(1, Fn.GetAzs()), Fn.Select(2, Fn.GetAzs())];

    private void Output(string id, string value, string description) =>
        _ = new CfnOutput(this, id, new CfnOutputProps { Value = value, Description = description });
}
