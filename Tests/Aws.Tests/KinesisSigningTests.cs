using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Analytics.Aws.Kinesis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Analytics.Aws.Tests;

/// <summary>
/// The emulators accept any signature, so what a real Kinesis would check is checked here, on the
/// requests themselves: above all the credential scope, which must name the region and
/// "kinesis" even when the endpoint is an IP address.
/// </summary>
public sealed partial class KinesisSigningTests
{
    private static readonly AWSCredentials Credentials = new BasicAWSCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    private static readonly ImmutableCredentials Snapshot = Credentials.GetCredentials();

    [Theory]
    [InlineData("http://127.0.0.1:4567", "us-east-1")]
    [InlineData("http://127.0.0.1:4567/", "eu-west-2")]
    [InlineData("http://localhost:45123", "ap-southeast-2")]
    [InlineData("https://kinesis.us-west-2.amazonaws.com", "us-west-2")]
    public void The_credential_scope_names_the_configured_region_and_kinesis(string endpoint, string region)
    {
        var signer = new KinesisRequestSigner(new Uri(endpoint), region);
        using var request = signer.CreateSignedRequest("ListShards", "{\"StreamName\":\"s\"}"u8.ToArray(), Snapshot);

        var authorization = Assert.Single(request.Headers.GetValues("Authorization"));
        var match = AuthorizationPattern().Match(authorization);
        Assert.True(match.Success, authorization);
        Assert.Equal("AKIDEXAMPLE", match.Groups["key"].Value);
        Assert.Equal(region, match.Groups["region"].Value);
        Assert.Equal("kinesis", match.Groups["service"].Value);

        // The date in the scope is the date of the signed X-Amz-Date header.
        var amzDate = Assert.Single(request.Headers.GetValues("X-Amz-Date"));
        Assert.StartsWith(match.Groups["date"].Value + "T", amzDate, StringComparison.Ordinal);

        // What identifies the call is signed, so it cannot be changed in flight.
        var signed = match.Groups["headers"].Value.Split(';');
        Assert.Superset(new HashSet<string> { "content-type", "host", "x-amz-date", "x-amz-target" }, signed.ToHashSet());
        Assert.Equal("Kinesis_20131202.ListShards", Assert.Single(request.Headers.GetValues("X-Amz-Target")));
        Assert.Equal("application/x-amz-json-1.1", request.Content!.Headers.ContentType!.ToString());
        Assert.Equal(new Uri(endpoint).Authority, request.Headers.Host);
    }

    [Fact]
    public void Temporary_credentials_send_their_session_token()
    {
        var signer = new KinesisRequestSigner(new Uri("http://127.0.0.1:4567"), "us-east-1");
        using var request = signer.CreateSignedRequest("GetRecords", "{}"u8.ToArray(), new ImmutableCredentials("AKID", "secret", "the-session-token"));

        Assert.Equal("the-session-token", Assert.Single(request.Headers.GetValues("X-Amz-Security-Token")));
        Assert.Contains("x-amz-security-token", AuthorizationPattern().Match(request.Headers.GetValues("Authorization").Single()).Groups["headers"].Value, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_client_sends_the_signed_json_call_to_the_endpoint_override()
    {
        using var handler = new FakeKinesisHandler(FakeKinesisHandler.Answer(HttpStatusCode.OK, "{\"Shards\":[{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":\"340282366920938463463374607431768211455\"},\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"49590338271490256608559692538361571095921575989136588898\"}}]}"));
        using var client = new KinesisClient(new KinesisClientOptions { ServiceUrl = "http://127.0.0.1:4567", Region = "eu-central-1" }, Credentials, handler: handler);

        var page = await client.ListShardsAsync("orders", maxResults: 10);

        var sent = Assert.Single(handler.Sent);
        Assert.Equal(HttpMethod.Post, sent.Method);
        Assert.Equal(new Uri("http://127.0.0.1:4567/"), sent.Uri);
        Assert.Equal("{\"StreamName\":\"orders\",\"MaxResults\":10}", sent.Body);
        Assert.Equal("Kinesis_20131202.ListShards", sent.Headers["x-amz-target"]);
        Assert.Contains("/eu-central-1/kinesis/aws4_request", sent.Headers["authorization"], StringComparison.Ordinal);
        var shard = Assert.Single(page.Shards);
        Assert.False(shard.IsClosed);
        Assert.Equal("170141183460469231731687303715884105728", shard.HashKeyRange.Midpoint());
    }

    [Fact]
    public async Task The_signature_covers_exactly_the_headers_and_body_that_are_sent()
    {
        using var handler = new FakeKinesisHandler(FakeKinesisHandler.Answer(HttpStatusCode.OK, "{\"FailedRecordCount\":0,\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":\"shardId-0\"}]}"));
        using var client = new KinesisClient(new KinesisClientOptions { ServiceUrl = "http://127.0.0.1:4567", Region = "sa-east-1" }, Credentials, handler: handler);
        await client.PutRecordsAsync("s", [new PutRecordsEntry("héllo"u8.ToArray(), "ключ")]);

        // Recompute the signature from what reached the handler (after HttpClient's own header
        // handling): the SigV4 canonical request for a POST to "/", signed by the SDK's
        // ComputeSignature. A header changed or added after signing would break it.
        var sent = handler.Sent.Single();
        var authorization = sent.Headers["authorization"];
        var signedHeaderNames = AuthorizationPattern().Match(authorization).Groups["headers"].Value;
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in signedHeaderNames.Split(';'))
        {
            // Host is not in the headers collection unless set; HttpClient would send the URI's authority.
            headers[name] = sent.Headers.TryGetValue(name, out var value) ? value : name == "host" ? sent.Uri.Authority : throw new Xunit.Sdk.XunitException($"Signed header {name} was not sent.");
        }

        var bodyHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(sent.Body)));
        var canonical = $"POST\n/\n\n{string.Concat(headers.Select(h => $"{h.Key}:{h.Value.Trim()}\n"))}\n{signedHeaderNames}\n{bodyHash}";
        var signedAt = DateTime.ParseExact(headers["x-amz-date"], "yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal);
        var expected = Amazon.Runtime.Internal.Auth.AWS4Signer.ComputeSignature(Snapshot, "sa-east-1", signedAt, "kinesis", signedHeaderNames, canonical);

        Assert.EndsWith("Signature=" + expected.Signature, authorization, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("us-east-1", "https://kinesis.us-east-1.amazonaws.com/")]
    [InlineData("cn-north-1", "https://kinesis.cn-north-1.amazonaws.com.cn/")]
    public void Without_an_override_the_region_picks_the_public_endpoint(string region, string expected) =>
        Assert.Equal(new Uri(expected), new KinesisClientOptions { Region = region }.ResolveEndpoint());

    [Fact]
    public void Options_come_from_the_contract_keys_and_are_validated()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kinesis:ServiceUrl"] = "http://127.0.0.1:4568",
            ["AWS:Region"] = "eu-west-1",
        }).Build();
        var options = KinesisClientOptions.FromConfiguration(configuration);
        Assert.Equal("http://127.0.0.1:4568", options.ServiceUrl);
        Assert.Equal("eu-west-1", options.Region);
        Assert.Null(options.Validate());

        var defaults = KinesisClientOptions.FromConfiguration(new ConfigurationBuilder().Build());
        Assert.Null(defaults.ServiceUrl);
        Assert.Equal("us-east-1", defaults.Region);

        Assert.Contains("ServiceUrl", new KinesisClientOptions { ServiceUrl = "127.0.0.1:4568" }.Validate(), StringComparison.Ordinal);
        Assert.NotNull(new KinesisClientOptions { MaxAttempts = 0 }.Validate());
        Assert.NotNull(new KinesisClientOptions { BaseRetryDelay = TimeSpan.FromSeconds(2), MaxRetryDelay = TimeSpan.FromSeconds(1) }.Validate());
        Assert.Throws<ArgumentException>(() => new KinesisClient(new KinesisClientOptions { Region = "" }, Credentials));
    }

    [Fact]
    public void The_client_is_registered_from_configuration_and_validated()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kinesis:ServiceUrl"] = "http://127.0.0.1:4568",
            ["AWS:Region"] = "eu-west-1",
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton(Credentials);
        services.AddKinesisClient(configuration, o => o.MaxAttempts = 7);
        using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<KinesisClient>();
        Assert.Equal(new Uri("http://127.0.0.1:4568/"), client.Endpoint);
        var options = provider.GetRequiredService<IOptions<KinesisClientOptions>>().Value;
        Assert.Equal(("eu-west-1", 7), (options.Region, options.MaxAttempts));

        var bad = new ServiceCollection();
        bad.AddKinesisClient(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kinesis:ServiceUrl"] = "not a url" }).Build());
        using var badProvider = bad.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => badProvider.GetRequiredService<IOptions<KinesisClientOptions>>().Value);
        Assert.Contains("Kinesis:ServiceUrl", error.Message, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^AWS4-HMAC-SHA256 Credential=(?<key>[^/]+)/(?<date>\d{8})/(?<region>[^/]+)/(?<service>[^/]+)/aws4_request, SignedHeaders=(?<headers>[^,]+), Signature=[0-9a-f]{64}$")]
    private static partial Regex AuthorizationPattern();
}
