using Amazon.DynamoDBv2;
using Analytics.Aws.DynamoDB;

namespace Analytics.Clustering.DynamoDB;

/// <summary>Creating or checking the membership table at start-up, for the silos' table and the clients' gateway list alike.</summary>
internal static class MembershipTablePreparation
{
    public static async Task PrepareAsync(IAmazonDynamoDB client, DynamoDBTableSpec spec, bool createTable, TimeSpan tableActiveTimeout, CancellationToken cancellationToken)
    {
        if (createTable)
        {
            await DynamoDBTables.EnsureAsync(client, spec, tableActiveTimeout, cancellationToken).ConfigureAwait(false);
            return;
        }

        try
        {
            await DynamoDBTables.RequireAsync(client, spec, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            // The shared message names DynamoDB:CreateTables only; here DynamoDBClusteringOptions.CreateTable may have said no.
            throw new InvalidOperationException(
                $"DynamoDB clustering: the membership table '{spec.Name}' does not exist, and creating it is off "
                + $"(DynamoDBClusteringOptions.CreateTable, which defaults to DynamoDB:CreateTables). Create it with string keys "
                + $"'{spec.HashKey}' (hash) and '{spec.RangeKey}' (range), as deploy/ does, or allow creating it.",
                e);
        }
    }
}
