using Analytics.Aws.DynamoDB;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Analytics.Clustering.DynamoDB;

/// <summary>
/// Checks, at start-up, what would otherwise fail on the first membership call deep inside the silo's
/// join (or the client's connect): a table name DynamoDB rejects, and a missing cluster id, which
/// scopes every row.
/// </summary>
public sealed class DynamoDBClusteringOptionsValidator(IOptions<DynamoDBOptions> dynamoDB, IOptions<ClusterOptions> cluster)
    : IValidateOptions<DynamoDBClusteringOptions>
{
    private const int MinTableNameLength = 3;
    private const int MaxTableNameLength = 255;

    public ValidateOptionsResult Validate(string? name, DynamoDBClusteringOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.TableName is { } explicitName && TableNameError(explicitName) is { } explicitError)
        {
            errors.Add($"DynamoDB clustering: TableName {explicitError}");
        }
        else if (options.TableName is null && TableNameError(options.ResolveTableName(dynamoDB.Value)) is { } derivedError)
        {
            errors.Add($"DynamoDB clustering: the table name derived from DynamoDB:TablePrefix {derivedError} Set DynamoDBClusteringOptions.TableName or fix the prefix.");
        }

        if (options.OperationTimeout <= TimeSpan.Zero)
        {
            errors.Add($"DynamoDB clustering: OperationTimeout must be positive (it is {options.OperationTimeout}).");
        }

        if (string.IsNullOrWhiteSpace(cluster.Value.ClusterId))
        {
            errors.Add("DynamoDB clustering: ClusterOptions.ClusterId must be set; it is the hash key of every membership row.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>DynamoDB's rule for table names; null when the name keeps it.</summary>
    internal static string? TableNameError(string tableName) =>
        tableName.Length is < MinTableNameLength or > MaxTableNameLength
            ? $"'{tableName}' must be {MinTableNameLength} to {MaxTableNameLength} characters long."
        : !tableName.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')
            ? $"'{tableName}' may hold only a-z, A-Z, 0-9, '_', '.' and '-'."
        : null;
}
