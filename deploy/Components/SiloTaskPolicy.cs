using Amazon.CDK;
using Amazon.CDK.AWS.IAM;
using Constructs;

namespace Analytics.Deploy.Components;

/// <summary>
/// The task role's only policy: the Kinesis actions the silos call, on the one stream; per table,
/// the DynamoDB actions the silos call on it (<see cref="SiloTables"/>); the KMS key that encrypts
/// both, only through Kinesis and DynamoDB. No action and no resource is a wildcard: nothing the
/// silos call needs one.
/// </summary>
public sealed class SiloTaskPolicy : Construct
{
    public SiloTaskPolicy(Construct scope, string id, IRole taskRole, DataStores data)
        : base(scope, id)
    {
        var statements = new List<PolicyStatement>
        {
            new(new PolicyStatementProps
            {
                Sid = "EventStream",
                Actions = [.. SiloTables.KinesisActions],
                Resources = [data.Stream.StreamArn],
            }),
        };
        statements.AddRange(data.Tables.Select(t => new PolicyStatement(new PolicyStatementProps
        {
            Sid = "Table" + t.Key.Id,
            Actions = [.. t.Key.Actions],
            Resources = [t.Value.TableArn],
        })));
        statements.Add(new PolicyStatement(new PolicyStatementProps
        {
            Sid = "DataKey",
            Actions = [.. SiloTables.KmsActions],
            Resources = [data.Key.KeyArn],
            Conditions = new Dictionary<string, object>
            {
                ["StringEquals"] = new Dictionary<string, object>
                {
                    ["kms:ViaService"] = new[] { $"kinesis.{Aws.REGION}.amazonaws.com", $"dynamodb.{Aws.REGION}.amazonaws.com" },
                },
            },
        }));

        Policy = new Policy(this, "Policy", new PolicyProps
        {
            Statements = [.. statements],
            Roles = [taskRole],
        });
    }

    public Policy Policy { get; }
}
