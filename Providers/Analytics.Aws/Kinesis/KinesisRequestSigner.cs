using Amazon.Runtime;
using Amazon.Runtime.Endpoints;
using Amazon.Runtime.Internal;
using Amazon.Runtime.Internal.Auth;

namespace Analytics.Aws.Kinesis;

/// <summary>
/// Signs Kinesis JSON 1.1 calls with AWSSDK.Core's SigV4 signer. AWSSDK.Kinesis is not on our
/// feed, so the request is sent by our own HttpClient; everything the SDK already does (the
/// signature, the credential chain and its refresh) is still the SDK's code.
/// </summary>
internal sealed class KinesisRequestSigner
{
    public const string ServiceName = "kinesis";
    public const string TargetPrefix = "Kinesis_20131202.";
    public const string ContentType = "application/x-amz-json-1.1";

    private readonly AWS4Signer _signer = new();
    private readonly KinesisSigningConfig _config;

    public KinesisRequestSigner(Uri endpoint, string region)
    {
        Endpoint = endpoint;
        _config = new KinesisSigningConfig(endpoint, region);
    }

    public Uri Endpoint { get; }

    /// <summary>
    /// Builds the signed HTTP request for one call. A new one per attempt: the signature covers
    /// the time, so a retried request is signed again.
    /// </summary>
    /// <param name="credentials">A snapshot, so that the key, secret and session token all come from the same refresh.</param>
    public HttpRequestMessage CreateSignedRequest(string action, byte[] body, ImmutableCredentials credentials)
    {
        var sdkRequest = new DefaultRequest(new KinesisSdkRequest(), "Kinesis")
        {
            HttpMethod = "POST",
            Endpoint = Endpoint,
            ResourcePath = "/",
            Content = body,
            // Without these the signer takes the service and region from the host name, which
            // for an IP endpoint (the emulator) yields "127" and a scope real AWS rejects.
            OverrideSigningServiceName = ServiceName,
            AuthenticationRegion = _config.AuthenticationRegion,
        };
        sdkRequest.Headers["X-Amz-Target"] = TargetPrefix + action;
        sdkRequest.Headers["Content-Type"] = ContentType;
        if (credentials.UseToken)
        {
            // The SDK's pipeline adds the session token before it signs, not AWS4Signer itself;
            // without it, temporary credentials (roles, containers, instances) are refused.
            sdkRequest.Headers["X-Amz-Security-Token"] = credentials.Token;
        }

        AWSCredentials identity = credentials.UseToken
            ? new SessionAWSCredentials(credentials.AccessKey, credentials.SecretKey, credentials.Token)
            : new BasicAWSCredentials(credentials.AccessKey, credentials.SecretKey);
        _signer.Sign(sdkRequest, _config, new Amazon.Runtime.Internal.Util.RequestMetrics(), identity);

        var message = new HttpRequestMessage(HttpMethod.Post, Endpoint)
        {
            Content = new ByteArrayContent(body),
            // Kinesis speaks HTTP/1.1; HTTP/2 against kinesis-mock's plain port fails (see NOTES).
            Version = System.Net.HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        foreach (var (name, value) in sdkRequest.Headers)
        {
            if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                message.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(value);
            }
            else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                // HttpClient sets it from the content; duplicating it is an error.
            }
            else if (name.Equals("Host", StringComparison.OrdinalIgnoreCase))
            {
                // The signed value, so that what is sent is exactly what was signed.
                message.Headers.Host = value;
            }
            else
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return message;
    }

    /// <summary>The SDK's signer reads the service name, region and endpoint from a client config.</summary>
    private sealed class KinesisSigningConfig : ClientConfig
    {
        // ClientConfig insists on a defaults provider; the signer reads none of its settings.
        public KinesisSigningConfig(Uri endpoint, string region)
            : base(new DefaultConfigurationProvider([new DefaultConfiguration { Name = DefaultConfigurationMode.Standard, RetryMode = RequestRetryMode.Standard }]))
        {
            ServiceURL = endpoint.ToString();
            AuthenticationRegion = region;
            AuthenticationServiceName = ServiceName;
        }

        public override string RegionEndpointServiceName => ServiceName;

        public override string ServiceVersion => "2013-12-02";

        public override string UserAgent => "analytics-kinesis";

        // Only the SDK's own pipeline resolves endpoints; ours is fixed when the client is built.
        public override Endpoint DetermineServiceOperationEndpoint(ServiceOperationEndpointParameters parameters) =>
            new(ServiceURL);
    }

    /// <summary>DefaultRequest wraps a service request object; ours carries nothing.</summary>
    private sealed class KinesisSdkRequest : AmazonWebServiceRequest;
}
