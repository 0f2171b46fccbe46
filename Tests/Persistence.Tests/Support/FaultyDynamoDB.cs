using System.Net;
using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;

namespace Analytics.Persistence.Tests;

/// <summary>
/// An IAmazonDynamoDB around a real client that fails chosen calls, leaves part of batch writes
/// unprocessed, or carries out a put and then loses its answer.
/// </summary>
public class FaultyDynamoDB : DispatchProxy
{
    private IAmazonDynamoDB _inner = null!;

    /// <summary>Given the method name and the request, the exception to throw instead of calling (null: call).</summary>
    public Func<string, AmazonWebServiceRequest?, Exception?> Fault { get; set; } = (_, _) => null;

    /// <summary>This many BatchWriteItem calls write only their first half and return the rest as unprocessed.</summary>
    public int BatchWritesToSplit;

    /// <summary>This many PutItem calls reach the table and then fail as if the connection dropped before the answer.</summary>
    public int PutAnswersToLose;

    public static (IAmazonDynamoDB Client, FaultyDynamoDB Faults) Wrap(IAmazonDynamoDB inner)
    {
        var client = Create<IAmazonDynamoDB, FaultyDynamoDB>();
        var faults = (FaultyDynamoDB)(object)client;
        faults._inner = inner;
        return (client, faults);
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        var method = targetMethod!;
        var request = args?.OfType<AmazonWebServiceRequest>().FirstOrDefault();
        var cancellationToken = args?.OfType<CancellationToken>().FirstOrDefault() ?? default;
        if (Fault(method.Name, request) is { } fault)
        {
            throw fault;
        }

        if (request is BatchWriteItemRequest batch && batch.RequestItems.Single().Value.Count > 1 && Interlocked.Decrement(ref BatchWritesToSplit) >= 0)
        {
            return SplitAsync(batch, cancellationToken);
        }

        if (request is PutItemRequest put && Interlocked.Decrement(ref PutAnswersToLose) >= 0)
        {
            return LoseAnswerAsync(put, cancellationToken);
        }

        try
        {
            return method.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    private async Task<BatchWriteItemResponse> SplitAsync(BatchWriteItemRequest batch, CancellationToken cancellationToken)
    {
        var (table, requests) = batch.RequestItems.Single();
        var half = requests.Count / 2;
        await _inner.BatchWriteItemAsync(new BatchWriteItemRequest { RequestItems = new() { [table] = requests[..half] } }, cancellationToken);
        return new BatchWriteItemResponse { UnprocessedItems = new() { [table] = requests[half..] } };
    }

    private async Task<PutItemResponse> LoseAnswerAsync(PutItemRequest put, CancellationToken cancellationToken)
    {
        await _inner.PutItemAsync(put, cancellationToken);
        throw new HttpRequestException("The connection was reset before the answer arrived (simulated).");
    }
}

/// <summary>HttpClients that answer the first item requests with DynamoDB's throttling error, as the service sends it.</summary>
public sealed class ThrottlingHttpClientFactory(int throttles) : HttpClientFactory
{
    private int _remaining = throttles;

    public int Remaining => Volatile.Read(ref _remaining);

    public override HttpClient CreateHttpClient(IClientConfig clientConfig) => new(new Handler(this) { InnerHandler = new HttpClientHandler() });

    private sealed class Handler(ThrottlingHttpClientFactory factory) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            IsDataPlane(request) && Interlocked.Decrement(ref factory._remaining) >= 0
                ? Task.FromResult(new HttpResponseMessage(HttpStatusCode.BadRequest)
                {
                    RequestMessage = request,
                    Content = new StringContent(
                        """{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}""",
                        Encoding.UTF8,
                        "application/x-amz-json-1.0"),
                })
                : base.SendAsync(request, cancellationToken);

        // Table operations have their own throttling errors, which the SDK models only for them.
        private static bool IsDataPlane(HttpRequestMessage request) =>
            request.Headers.TryGetValues("X-Amz-Target", out var targets)
            && targets.Single().Split('.')[^1] is "GetItem" or "PutItem" or "DeleteItem" or "Query" or "BatchGetItem" or "BatchWriteItem";
    }
}
