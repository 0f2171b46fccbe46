using Amazon;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Analytics.Aws.DynamoDB;

/// <summary>Where the service keeps its DynamoDB tables: grain state, shard leases and checkpoints, dead letters.</summary>
public sealed class DynamoDBOptions
{
    /// <summary>Endpoint override (<c>DynamoDB:ServiceUrl</c>), for example dynalite's http://127.0.0.1:4567. Unset means AWS itself.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>The region (<c>AWS:Region</c>).</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>Prefix of every table the service creates or uses (<c>DynamoDB:TablePrefix</c>).</summary>
    public string TablePrefix { get; set; } = "analytics-";

    /// <summary>Create missing tables at start-up (<c>DynamoDB:CreateTables</c>); off when infrastructure code owns them.</summary>
    public bool CreateTables { get; set; } = true;

    /// <summary>How long start-up waits for a created table to become ACTIVE.</summary>
    public TimeSpan TableActiveTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Reads the contract's keys: <c>DynamoDB:ServiceUrl</c>, <c>DynamoDB:TablePrefix</c>, <c>DynamoDB:CreateTables</c> and <c>AWS:Region</c>.</summary>
    public static DynamoDBOptions FromConfiguration(IConfiguration configuration)
    {
        var options = new DynamoDBOptions();
        options.Bind(configuration);
        return options;
    }

    public void Bind(IConfiguration configuration)
    {
        if (configuration["DynamoDB:ServiceUrl"] is { Length: > 0 } url)
        {
            ServiceUrl = url;
        }

        if (configuration["DynamoDB:TablePrefix"] is { } prefix)
        {
            TablePrefix = prefix;
        }

        if (configuration["AWS:Region"] is { Length: > 0 } region)
        {
            Region = region;
        }

        if (configuration["DynamoDB:CreateTables"] is { Length: > 0 } create)
        {
            CreateTables = bool.TryParse(create, out var value)
                ? value
                : throw new OptionsValidationException("DynamoDB:CreateTables", typeof(bool), [$"DynamoDB:CreateTables '{create}' is not true or false."]);
        }
    }

    /// <summary>The full name of one of the service's tables.</summary>
    public string TableName(string suffix) => TablePrefix + suffix;

    public string? Validate() =>
        string.IsNullOrWhiteSpace(Region) ? "AWS:Region must be set."
        : RegionEndpoint.GetBySystemName(Region) is null ? $"AWS:Region '{Region}' is not a region."
        : !string.IsNullOrWhiteSpace(ServiceUrl) && !(Uri.TryCreate(ServiceUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            ? $"DynamoDB:ServiceUrl '{ServiceUrl}' is not an absolute http or https URL."
        // Table names are 3 to 255 of [a-zA-Z0-9_.-]; the longest suffix we add is 12 characters.
        : TablePrefix.Length > 200 || !TablePrefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')
            ? $"DynamoDB:TablePrefix '{TablePrefix}' may hold only a-z, A-Z, 0-9, '_', '.' and '-' (at most 200 characters)."
        : TableActiveTimeout <= TimeSpan.Zero ? "TableActiveTimeout must be positive."
        : null;
}

public sealed class DynamoDBOptionsValidator : IValidateOptions<DynamoDBOptions>
{
    public ValidateOptionsResult Validate(string? name, DynamoDBOptions options) =>
        options.Validate() is { } error ? ValidateOptionsResult.Fail($"DynamoDB: {error}") : ValidateOptionsResult.Success;
}
