using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;

namespace Analytics.Aws.DynamoDB;

/// <summary>The key layout of one table: a string hash key and, optionally, a string range key.</summary>
public sealed record DynamoDBTableSpec(string Name, string HashKey, string? RangeKey = null);

/// <summary>Creates the service's tables at start-up when they are missing (on-demand billing), and waits until they are ACTIVE.</summary>
public static class DynamoDBTables
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    public static async Task EnsureAsync(IAmazonDynamoDB client, DynamoDBTableSpec spec, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        if (await StatusAsync(client, spec.Name, cancellationToken).ConfigureAwait(false) is null)
        {
            var keys = new List<KeySchemaElement> { new(spec.HashKey, KeyType.HASH) };
            var attributes = new List<AttributeDefinition> { new(spec.HashKey, ScalarAttributeType.S) };
            if (spec.RangeKey is { } range)
            {
                keys.Add(new KeySchemaElement(range, KeyType.RANGE));
                attributes.Add(new AttributeDefinition(range, ScalarAttributeType.S));
            }

            try
            {
                await DynamoDBRetry.RunAsync(ct => client.CreateTableAsync(new CreateTableRequest
                {
                    TableName = spec.Name,
                    KeySchema = keys,
                    AttributeDefinitions = attributes,
                    BillingMode = BillingMode.PAY_PER_REQUEST,
                }, ct), cancellationToken).ConfigureAwait(false);
            }
            catch (ResourceInUseException)
            {
                // Another silo created it first.
            }
        }

        while (await StatusAsync(client, spec.Name, cancellationToken).ConfigureAwait(false) != TableStatus.ACTIVE)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"DynamoDB table '{spec.Name}' did not become ACTIVE within {timeout.TotalSeconds:0} s.");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Checks that a table the service did not create exists, with a clear error when it does not.</summary>
    public static async Task RequireAsync(IAmazonDynamoDB client, DynamoDBTableSpec spec, CancellationToken cancellationToken)
    {
        if (await StatusAsync(client, spec.Name, cancellationToken).ConfigureAwait(false) is null)
        {
            throw new InvalidOperationException(
                $"DynamoDB table '{spec.Name}' does not exist, and DynamoDB:CreateTables is false. Create it (hash key '{spec.HashKey}'{(spec.RangeKey is null ? "" : $", range key '{spec.RangeKey}'")}, strings) or set DynamoDB:CreateTables=true.");
        }
    }

    /// <summary>Ensure or require, as the options say.</summary>
    public static Task PrepareAsync(IAmazonDynamoDB client, DynamoDBOptions options, DynamoDBTableSpec spec, CancellationToken cancellationToken) =>
        options.CreateTables
            ? EnsureAsync(client, spec, options.TableActiveTimeout, cancellationToken)
            : RequireAsync(client, spec, cancellationToken);

    private static async Task<TableStatus?> StatusAsync(IAmazonDynamoDB client, string name, CancellationToken cancellationToken)
    {
        try
        {
            var table = await DynamoDBRetry.RunAsync(ct => client.DescribeTableAsync(name, ct), cancellationToken).ConfigureAwait(false);
            return table.Table.TableStatus;
        }
        catch (ResourceNotFoundException)
        {
            return null;
        }
    }
}

/// <summary>
/// Prepares one table (<see cref="DynamoDBTables.PrepareAsync"/>) on first use: concurrent
/// callers wait for the same attempt, and a failed attempt (a table still being deleted, a
/// permission not granted yet) is tried again by the next call instead of being remembered.
/// </summary>
public sealed class DynamoDBTablePreparation(IAmazonDynamoDB client, DynamoDBOptions options, DynamoDBTableSpec spec)
{
    private readonly Lock _lock = new();
    private Task? _attempt;

    public DynamoDBTableSpec Spec => spec;

    public Task EnsureAsync(CancellationToken cancellationToken)
    {
        if (_attempt is { IsCompletedSuccessfully: true })
        {
            return Task.CompletedTask;
        }

        lock (_lock)
        {
            if (_attempt is null || _attempt.IsFaulted || _attempt.IsCanceled)
            {
                // Not the caller's token: one caller giving up must not fail the others' shared attempt.
                _attempt = DynamoDBTables.PrepareAsync(client, options, spec, CancellationToken.None);
            }

            return _attempt.WaitAsync(cancellationToken);
        }
    }
}
