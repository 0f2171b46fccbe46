using Amazon;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Analytics.Aws.Kinesis;

/// <summary>Where the Kinesis client sends its calls, and how it retries them.</summary>
public sealed class KinesisClientOptions
{
    /// <summary>Endpoint override (<c>Kinesis:ServiceUrl</c>), for example kinesis-mock's http://127.0.0.1:4568. Unset means AWS itself.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>The region (<c>AWS:Region</c>). Part of every signature, also when an endpoint override is set.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>Attempts per call, the first included. Only throttling, 5xx and network failures are retried.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>The backoff's first ceiling; it doubles with each retry.</summary>
    public TimeSpan BaseRetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The backoff's largest ceiling.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one attempt may take. A full GetRecords (10 MB) must fit in it.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Reads the contract's keys: <c>Kinesis:ServiceUrl</c> and <c>AWS:Region</c>.</summary>
    public static KinesisClientOptions FromConfiguration(IConfiguration configuration)
    {
        var options = new KinesisClientOptions();
        var serviceUrl = configuration["Kinesis:ServiceUrl"];
        if (!string.IsNullOrWhiteSpace(serviceUrl))
        {
            options.ServiceUrl = serviceUrl;
        }

        var region = configuration["AWS:Region"];
        if (!string.IsNullOrWhiteSpace(region))
        {
            options.Region = region;
        }

        return options;
    }

    /// <summary>The endpoint calls go to: the override, or the region's public Kinesis endpoint.</summary>
    public Uri ResolveEndpoint() =>
        string.IsNullOrWhiteSpace(ServiceUrl)
            ? new Uri($"https://kinesis.{Region}.{RegionEndpoint.GetBySystemName(Region).PartitionDnsSuffix}/")
            : new Uri(ServiceUrl, UriKind.Absolute);

    public string? Validate() =>
        string.IsNullOrWhiteSpace(Region) ? "AWS:Region must be set."
        : !string.IsNullOrWhiteSpace(ServiceUrl) && !IsHttpUrl(ServiceUrl) ? $"Kinesis:ServiceUrl '{ServiceUrl}' is not an absolute http or https URL."
        : MaxAttempts < 1 ? "MaxAttempts must be at least 1."
        : BaseRetryDelay <= TimeSpan.Zero ? "BaseRetryDelay must be positive."
        : MaxRetryDelay < BaseRetryDelay ? "MaxRetryDelay must be at least BaseRetryDelay."
        : RequestTimeout <= TimeSpan.Zero ? "RequestTimeout must be positive."
        : null;

    private static bool IsHttpUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}

public sealed class KinesisClientOptionsValidator : IValidateOptions<KinesisClientOptions>
{
    public ValidateOptionsResult Validate(string? name, KinesisClientOptions options) =>
        options.Validate() is { } error ? ValidateOptionsResult.Fail($"Kinesis client: {error}") : ValidateOptionsResult.Success;
}
